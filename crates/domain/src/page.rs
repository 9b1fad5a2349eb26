//! Pagination: what a list asks for and what it gets back.

use serde::Serialize;

/// The largest page any list serves.
pub const MAX_PAGE_SIZE: u64 = 100;

/// A window into a list, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub page_size: u64,
}

impl PageRequest {
    /// Parses page and size, defaulting to the first page of 20 and naming the bad field.
    ///
    /// # Errors
    /// When `page` is 0 or `page_size` is outside 1..=100.
    pub fn parse(
        page: Option<u64>,
        page_size: Option<u64>,
    ) -> Result<Self, (&'static str, String)> {
        let page = page.unwrap_or(1);
        let page_size = page_size.unwrap_or(20);
        if page == 0 {
            return Err(("page", "must be 1 or more".into()));
        }
        if page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err((
                "page_size",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        Ok(Self { page, page_size })
    }

    /// From `skip`/`limit`, as some clients page.
    ///
    /// # Errors
    /// When `limit` is outside 1..=100.
    pub fn from_skip_limit(skip: u64, limit: u64) -> Result<Self, (&'static str, String)> {
        if limit == 0 || limit > MAX_PAGE_SIZE {
            return Err(("limit", format!("must be between 1 and {MAX_PAGE_SIZE}")));
        }
        // A skip that is not a multiple of the limit still starts at the right row via offset().
        Ok(Self {
            page: skip / limit + 1,
            page_size: limit,
        })
    }

    /// Rows to skip.
    #[must_use]
    pub const fn offset(&self) -> u64 {
        (self.page - 1) * self.page_size
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 1,
            page_size: 20,
        }
    }
}

/// One page of a list and the size of the whole list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(PageRequest::parse(None, None), Ok(PageRequest::default()));
        assert_eq!(
            PageRequest::parse(Some(3), Some(10)).map(|p| p.offset()),
            Ok(20)
        );
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(None, Some(101)).is_err());
        assert!(PageRequest::parse(None, Some(0)).is_err());
        assert_eq!(
            PageRequest::from_skip_limit(20, 10).map(|p| p.offset()),
            Ok(20)
        );
        assert!(PageRequest::from_skip_limit(0, 0).is_err());
    }
}
