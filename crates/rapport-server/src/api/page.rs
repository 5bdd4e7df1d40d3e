//! Pagination of lists: `?limit=&start=` in, `{"results": [...], "_page": {"count", "next"}}` out.
//!
//! `start` is the position (0-based) of the first item answered, `limit` how many at most (default
//! [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]). `_page.count` is how many items this page holds, `_page.next`
//! the `start` of the next page, or null on the last one. Lists are in a stable order (by id or name), so
//! following `next` visits every item once.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};

/// Items answered when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 1000;

/// The query of a list.
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items at most (1 to 1000, default 100).
    pub limit: Option<usize>,
    /// The position of the first item (default 0); a page's `_page.next`.
    pub start: Option<usize>,
}

/// The paging part of a list answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PageInfo {
    /// How many items this page holds.
    pub count: usize,
    /// The `start` of the next page, or null when this is the last.
    pub next: Option<usize>,
}

/// A page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items.
    pub results: Vec<T>,
    /// Paging.
    #[serde(rename = "_page")]
    pub page: PageInfo,
}

impl PageQuery {
    /// The page of `items` this query asks for; 400 when `limit` is out of range.
    pub fn apply<T>(self, items: Vec<T>) -> ApiResult<Page<T>> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::bad_request(format!("limit {limit} is out of range (1 to {MAX_LIMIT})")));
        }
        let start = self.start.unwrap_or(0);
        let total = items.len();
        let results: Vec<T> = items.into_iter().skip(start).take(limit).collect();
        let end = start.saturating_add(results.len());
        let next = (end < total).then_some(end);
        Ok(Page { page: PageInfo { count: results.len(), next }, results })
    }
}

#[cfg(test)]
mod tests {
    use super::PageQuery;

    #[test]
    fn pages_visit_every_item_once() {
        let query = PageQuery { limit: Some(2), start: None };
        let first = query.apply(vec![1, 2, 3, 4, 5]).expect("in range");
        assert_eq!((first.results, first.page.count, first.page.next), (vec![1, 2], 2, Some(2)));
        let last = PageQuery { limit: Some(2), start: Some(4) }.apply(vec![1, 2, 3, 4, 5]).expect("in range");
        assert_eq!((last.results, last.page.next), (vec![5], None));
        let beyond = PageQuery { limit: Some(2), start: Some(9) }.apply(vec![1, 2, 3]).expect("in range");
        assert_eq!((beyond.results.len(), beyond.page.next), (0, None));
        assert!(PageQuery { limit: Some(0), start: None }.apply(vec![1]).is_err());
        assert!(PageQuery { limit: Some(1001), start: None }.apply(vec![1]).is_err());
    }
}
