//! The `knowledge_vectors` table: one row per chunk, its embedding as little-endian f32 bytes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "knowledge_vectors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub chunk_id: Uuid,
    pub organization_id: Uuid,
    pub document_id: Uuid,
    pub chunk_index: i32,
    pub text: String,
    pub dimensions: i32,
    pub embedding: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
