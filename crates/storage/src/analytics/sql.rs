//! A statement assembled from text and bound values, with each backend's placeholders, for the
//! aggregate queries (window functions, CTEs, per-backend date functions) that read more
//! plainly as SQL than as a query builder's calls.

use sea_orm::{DbBackend, Statement, Value};

use crate::Backend;

/// SQL text and its values, in order.
#[derive(Debug)]
pub struct Sql {
    backend: Backend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    /// An empty statement for `backend`.
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            text: String::new(),
            values: Vec::new(),
        }
    }

    /// Which database it is for.
    pub const fn backend(&self) -> Backend {
        self.backend
    }

    /// Appends SQL text (never user input: values go through [`Self::bind`]).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            Backend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.values.len().to_string());
            }
            Backend::Sqlite => self.text.push('?'),
        }
        self
    }

    /// The statement to run.
    pub fn build(self) -> Statement {
        let backend = match self.backend {
            Backend::Postgres => DbBackend::Postgres,
            Backend::Sqlite => DbBackend::Sqlite,
        };
        Statement::from_sql_and_values(backend, self.text, self.values)
    }
}
