//! The `VectorStore` contract (`switchboard_testkit::vector_store_contract`), held against the
//! in-memory store and the database store on SQLite and on PostgreSQL. The Pinecone adapter runs
//! the same suite in its own crate, against the fake index.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use switchboard_domain::account::{DisplayName, EmailAddress, NewAccount, PasswordHash};
use switchboard_domain::ids::{OrganizationId, UserId};
use switchboard_domain::ports::AccountRepository;
use switchboard_local::MemoryVectorStore;
use switchboard_storage::testing::TestDatabase;
use switchboard_storage::{Database, SeaOrmAccounts, SeaOrmVectorStore};
use switchboard_testkit::vector_store_contract;

/// An organisation the database knows, since its vectors refer to it.
async fn organisation(db: &Database) -> anyhow::Result<OrganizationId> {
    let id = OrganizationId::new();
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    SeaOrmAccounts::new(db.clone())
        .create_account(NewAccount {
            user_id: UserId::new(),
            organization_id: id,
            email: EmailAddress::parse(&email).map_err(anyhow::Error::msg)?,
            full_name: None,
            organization_name: DisplayName::parse("Org").map_err(anyhow::Error::msg)?,
            password_hash: PasswordHash::new("$argon2id$stub".into()),
            created_at: chrono::Utc::now(),
        })
        .await?;
    Ok(id)
}

async fn database_contract(db: &TestDatabase) -> anyhow::Result<()> {
    let (mine, theirs) = (
        organisation(db.database()).await?,
        organisation(db.database()).await?,
    );
    vector_store_contract(&SeaOrmVectorStore::new(db.database().clone()), mine, theirs).await
}

#[tokio::test]
async fn memory_store_keeps_the_contract() -> anyhow::Result<()> {
    vector_store_contract(
        &MemoryVectorStore::new(),
        OrganizationId::new(),
        OrganizationId::new(),
    )
    .await
}

#[tokio::test]
async fn database_store_keeps_the_contract_on_sqlite() -> anyhow::Result<()> {
    database_contract(&TestDatabase::sqlite().await?).await
}

#[tokio::test]
async fn database_store_keeps_the_contract_on_postgres() -> anyhow::Result<()> {
    let Some(db) = TestDatabase::postgres().await? else {
        return Ok(());
    };
    database_contract(&db).await
}
