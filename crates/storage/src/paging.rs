//! One page of a query and the size of the whole result, for every list of the adapters.

use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait, QuerySelect, Select};
use switchboard_domain::page::PageRequest;
use switchboard_domain::ports::RepositoryError;

use crate::accounts::unexpected;

/// The rows of `page` of `query` (already filtered and ordered) and the total row count.
///
/// # Errors
/// Only on storage failure.
pub(crate) async fn fetch_page<E>(
    query: Select<E>,
    page: PageRequest,
    connection: &DatabaseConnection,
) -> Result<(Vec<E::Model>, u64), RepositoryError>
where
    E: EntityTrait,
    E::Model: Sync,
{
    // Two reads on two connections of the pool: the answer waits for the slower one only.
    let (total, rows) = futures_util::try_join!(
        query.clone().count(connection),
        query
            .offset(page.offset())
            .limit(page.page_size)
            .all(connection),
    )
    .map_err(unexpected)?;
    Ok((rows, total))
}
