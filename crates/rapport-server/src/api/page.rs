//! Pagination and filters of lists: `?limit=&start=&property=` in, `{"results": [...], "_page": {"count",
//! "next"}}` out.
//!
//! `property` filters before paging (after Adobe's Catalog API): comma-separated conditions, all of which must
//! hold, each `path==value`, `path!=value` or `path~=text` (contains, ignoring case), where `path` is a dotted
//! path into the item as answered (`state`, `counts.rejected`, `files.0`). Values compare as text (a number
//! as written in JSON, `null` for null); an item without the path fails `==` and `~=` and passes `!=`.
//!
//! `start` is the position (0-based) of the first item answered, `limit` how many at most (default
//! [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]). `_page.count` is how many items this page holds, `_page.next`
//! the `start` of the next page, or null on the last one. Lists are in a stable order (by id or name), so
//! following `next` visits every item once.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};

/// Items answered when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 1000;

/// The query of a list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items at most (1 to 1000, default 100).
    pub limit: Option<usize>,
    /// The position of the first item (default 0); a page's `_page.next`.
    pub start: Option<usize>,
    /// Filters: comma-separated `path==value`, `path!=value` or `path~=text`, all of which must hold.
    pub property: Option<String>,
}

/// How a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    NotEqual,
    Contains,
}

/// One condition of `property`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    path: Vec<String>,
    op: Op,
    value: String,
}

impl Condition {
    /// Parses `path==value`, `path!=value` or `path~=text`.
    fn parse(text: &str) -> ApiResult<Self> {
        let found = [("==", Op::Equal), ("!=", Op::NotEqual), ("~=", Op::Contains)]
            .into_iter()
            .filter_map(|(token, op)| text.find(token).map(|at| (at, token, op)))
            .min_by_key(|(at, ..)| *at);
        let Some((at, token, op)) = found else {
            return Err(ApiError::bad_request(format!(
                "filter `{text}` has no operator (use `path==value`, `path!=value` or `path~=text`)"
            )));
        };
        let path = text[..at].trim();
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(ApiError::bad_request(format!("filter `{text}` has no property path before `{token}`")));
        }
        Ok(Condition {
            path: path.split('.').map(str::to_owned).collect(),
            op,
            value: text[at + token.len()..].trim().to_owned(),
        })
    }

    fn holds(&self, item: &Value) -> bool {
        let mut node = Some(item);
        for segment in &self.path {
            node = match node {
                Some(Value::Object(map)) => map.get(segment),
                Some(Value::Array(items)) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
        }
        let text = node.map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        match (self.op, text) {
            (Op::Equal, Some(text)) => text == self.value,
            (Op::NotEqual, Some(text)) => text != self.value,
            (Op::Contains, Some(text)) => text.to_lowercase().contains(&self.value.to_lowercase()),
            (Op::NotEqual, None) => true,
            (_, None) => false,
        }
    }
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
    /// The page of `items` this query asks for, after its filters; 400 when `limit` is out of range or a
    /// filter is malformed.
    pub fn apply<T: Serialize>(self, items: Vec<T>) -> ApiResult<Page<T>> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::bad_request(format!("limit {limit} is out of range (1 to {MAX_LIMIT})")));
        }
        let items = match self.property.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            None => items,
            Some(property) => {
                let conditions = property.split(',').map(Condition::parse).collect::<ApiResult<Vec<_>>>()?;
                let mut kept = Vec::new();
                for item in items {
                    let value = serde_json::to_value(&item)
                        .map_err(|e| ApiError::internal(format!("cannot serialize a list item: {e}")))?;
                    if conditions.iter().all(|c| c.holds(&value)) {
                        kept.push(item);
                    }
                }
                kept
            }
        };
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
    use serde_json::json;

    fn filtered(property: &str) -> PageQuery {
        PageQuery { property: Some(property.to_owned()), ..PageQuery::default() }
    }

    #[test]
    fn filters_keep_the_items_every_condition_holds_for() {
        let items = vec![
            json!({"id": 1, "state": "success", "counts": {"rejected": 0}, "name": "Contact.csv"}),
            json!({"id": 2, "state": "failed", "counts": {"rejected": 12}, "name": "Lead.csv"}),
            json!({"id": 3, "state": "success", "counts": {"rejected": 3}, "name": "contacts-2.CSV"}),
            json!({"id": 4, "state": "loading"}),
        ];
        let ids = |property: &str| -> Vec<i64> {
            let page = filtered(property).apply(items.clone()).expect("a valid filter");
            page.results.iter().map(|i| i["id"].as_i64().expect("id")).collect()
        };
        assert_eq!(ids("state==success"), vec![1, 3]);
        assert_eq!(ids("state!=success"), vec![2, 4]);
        // Numbers compare as written; a missing path fails `==` and passes `!=`.
        assert_eq!(ids("counts.rejected==0"), vec![1]);
        assert_eq!(ids("counts.rejected!=0"), vec![2, 3, 4]);
        // Contains ignores case; conditions are joined by `and`.
        assert_eq!(ids("name~=contact"), vec![1, 3]);
        assert_eq!(ids("name~=contact, state==success ,counts.rejected!=0"), vec![3]);
        assert_eq!(ids(""), vec![1, 2, 3, 4]);
        assert!(filtered("state").apply(items.clone()).is_err());
        assert!(filtered("==x").apply(items.clone()).is_err());
        assert!(filtered("counts..rejected==0").apply(items.clone()).is_err());
        // Filtering comes before paging: `next` counts the filtered items.
        let page = PageQuery { limit: Some(1), ..filtered("state==success") }.apply(items).expect("valid");
        assert_eq!((page.results[0]["id"].clone(), page.page.next), (json!(1), Some(1)));
    }

    #[test]
    fn pages_visit_every_item_once() {
        let query = PageQuery { limit: Some(2), start: None, property: None };
        let first = query.apply(vec![1, 2, 3, 4, 5]).expect("in range");
        assert_eq!((first.results, first.page.count, first.page.next), (vec![1, 2], 2, Some(2)));
        let last =
            PageQuery { limit: Some(2), start: Some(4), property: None }.apply(vec![1, 2, 3, 4, 5]).expect("in range");
        assert_eq!((last.results, last.page.next), (vec![5], None));
        let beyond =
            PageQuery { limit: Some(2), start: Some(9), property: None }.apply(vec![1, 2, 3]).expect("in range");
        assert_eq!((beyond.results.len(), beyond.page.next), (0, None));
        assert!(PageQuery { limit: Some(0), start: None, property: None }.apply(vec![1]).is_err());
        assert!(PageQuery { limit: Some(1001), start: None, property: None }.apply(vec![1]).is_err());
    }
}
