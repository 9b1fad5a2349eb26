//! Column and index builders every migration uses, so each table reads as its list of columns.

use sea_orm_migration::prelude::*;

/// A required timestamp with time zone.
pub fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

/// An optional timestamp with time zone.
pub fn nullable_timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .null()
        .take()
}

/// A UUID primary key.
pub fn uuid_key(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .uuid()
        .not_null()
        .primary_key()
        .take()
}

/// A required UUID column (usually a reference).
pub fn uuid_ref(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).uuid().not_null().take()
}

/// An optional short text column.
pub fn nullable_string(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).string().null().take()
}

/// An index named `name` on `columns` of `table`.
pub fn index<T, C>(
    name: &str,
    table: T,
    columns: impl IntoIterator<Item = C>,
) -> IndexCreateStatement
where
    T: IntoIden + 'static,
    C: IntoIden + 'static,
{
    let mut index = Index::create().name(name).table(table).to_owned();
    for column in columns {
        index.col(column);
    }
    index
}

/// A unique index named `name` on `columns` of `table`.
pub fn unique_index<T, C>(
    name: &str,
    table: T,
    columns: impl IntoIterator<Item = C>,
) -> IndexCreateStatement
where
    T: IntoIden + 'static,
    C: IntoIden + 'static,
{
    index(name, table, columns).unique().to_owned()
}

/// A foreign key from `from` (table, column) to `to` (table, column) with what deleting the
/// referenced row does.
pub fn references<A, B, C, D>(
    from: (A, B),
    to: (C, D),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement
where
    A: IntoIden + 'static,
    B: IntoIden,
    C: IntoIden + 'static,
    D: IntoIden,
{
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .to_owned()
}
