//! Work spread over the machine's cores in contiguous chunks, results in the items' order.

/// Items below which the maps below stay on the calling thread: cheap items (a payload, a lookup) are not
/// worth a thread's start in smaller numbers.
const MIN_ITEMS: usize = 10_000;

/// The chunk size that spreads `len` items over the machine's cores (at most 8), or `None` when they are
/// fewer than `min` (too few to be worth a thread) or the machine has one core.
fn chunk_size(len: usize, min: usize) -> Option<usize> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    (threads >= 2 && len >= min.max(2)).then(|| len.div_ceil(threads))
}

/// Runs `work` over each of `chunks` on a thread of its own and concatenates what they push, in the chunks'
/// order. The first chunk pushes into a vector sized for all `total` results, so only the others are copied
/// (and the first thread, not the caller, touches most of the fresh memory).
fn in_order<C: Send, U: Send>(
    total: usize,
    chunks: impl Iterator<Item = C>,
    work: impl Fn(C, &mut Vec<U>) + Sync,
) -> Vec<U> {
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .enumerate()
            .map(|(i, chunk)| {
                scope.spawn(move || {
                    let mut out = Vec::with_capacity(if i == 0 { total } else { 0 });
                    work(chunk, &mut out);
                    out
                })
            })
            .collect();
        let mut results = handles.into_iter().map(|h| h.join().expect("a worker thread does not panic"));
        let mut out = results.next().unwrap_or_default();
        for rest in results {
            out.extend(rest);
        }
        out
    })
}

/// `f` over `items` (which it may change) on the machine's cores, in contiguous chunks, results in the items'
/// order.
pub(crate) fn par_map_mut<T: Send, U: Send>(items: &mut [T], f: impl Fn(&mut T) -> U + Sync) -> Vec<U> {
    match chunk_size(items.len(), MIN_ITEMS) {
        None => items.iter_mut().map(f).collect(),
        Some(size) => in_order(items.len(), items.chunks_mut(size), |chunk, out| out.extend(chunk.iter_mut().map(&f))),
    }
}

/// `f` over `items` on the machine's cores, in contiguous chunks, results in the items' order.
pub(crate) fn par_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    match chunk_size(items.len(), MIN_ITEMS) {
        None => items.iter().map(f).collect(),
        Some(size) => in_order(items.len(), items.chunks(size), |chunk, out| out.extend(chunk.iter().map(&f))),
    }
}

/// `f` over `items`, which it consumes, on the machine's cores once there are `min` of them (costly items, such
/// as a record to validate and serialize, are worth a thread in the tens), results in the items' order.
pub(crate) fn par_map_owned<T: Send, U: Send>(items: Vec<T>, min: usize, f: impl Fn(T) -> U + Sync) -> Vec<U> {
    let total = items.len();
    let Some(size) = chunk_size(total, min) else {
        return items.into_iter().map(f).collect();
    };
    let mut items = items.into_iter();
    let chunks: Vec<Vec<T>> = std::iter::from_fn(|| Some(items.by_ref().take(size).collect::<Vec<T>>()))
        .take_while(|chunk| !chunk.is_empty())
        .collect();
    in_order(total, chunks.into_iter(), |chunk, out| out.extend(chunk.into_iter().map(&f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_map_mut_keeps_order_and_lets_items_change() {
        let mut items: Vec<String> = (0..30_000).map(|i| i.to_string()).collect();
        let lengths = par_map_mut(&mut items, |s| std::mem::take(s).len());
        assert_eq!(lengths, (0..30_000).map(|i: i32| i.to_string().len()).collect::<Vec<_>>());
        assert!(items.iter().all(String::is_empty));
    }

    #[test]
    fn par_map_owned_keeps_order_whatever_the_split() {
        for n in [0, 1, 2, 3, 63, 64, 65, 1_001] {
            let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let back = par_map_owned(items, 2, |s| s.parse::<usize>().unwrap_or(usize::MAX) * 2);
            assert_eq!(back, (0..n).map(|i| i * 2).collect::<Vec<_>>(), "{n} items");
        }
    }
}
