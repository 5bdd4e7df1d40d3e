//! Sorted, duplicate-free lists of profile numbers: what the sparse evaluation path combines when only a handful
//! of entities are evaluated (incremental evaluation), at a cost proportional to the lists, not to the class.

/// Sorts `ids` and drops duplicates.
pub(crate) fn normalize(mut ids: Vec<u32>) -> Vec<u32> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The ids in `a` or in `b`.
pub(crate) fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The ids in `a` and not in `b`.
pub(crate) fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j == b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Whether the sorted list holds `id`.
#[inline]
pub(crate) fn contains(list: &[u32], id: u32) -> bool {
    list.binary_search(&id).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations_on_sorted_lists() {
        assert_eq!(normalize(vec![5, 1, 5, 3, 1]), vec![1, 3, 5]);
        assert_eq!(union(&[1, 3, 5], &[2, 3, 9]), vec![1, 2, 3, 5, 9]);
        assert_eq!(union(&[], &[4]), vec![4]);
        assert_eq!(difference(&[1, 2, 3, 5, 9], &[0, 2, 5, 10]), vec![1, 3, 9]);
        assert_eq!(difference(&[1, 2], &[]), vec![1, 2]);
        assert!(contains(&[1, 4, 9], 4) && !contains(&[1, 4, 9], 5) && !contains(&[], 0));
    }
}
