//! Real-time customer profiles.
//!
//! - [`mod@merge`]: merges the fragments of one identity graph under a [`MergePolicy`] into one profile
//!   (B2B-DOMAIN d.1–d.2); the engine stitches graphs with `rapport-identity` and streams fragments through it.
//! - [`links`]: resolves the B2B relationships between merged person, account and opportunity profiles into the
//!   navigations PQL uses.
//! - [`events`]: the experience events of persons (`xEvent`), appended rather than merged.
//!
//! Pure computation: reading fragments and writing profiles is the store's job.

pub mod events;
pub mod links;
pub mod merge;

pub use events::{Event, EventLog, EventRejected, SEGMENTATION_EVENT_LIMIT};
pub use links::{
    navigation_hops, KeyHop, Navigation, Profile, ProfileGraph, ProfileSet, LINKED_CLASSES, LINK_PATHS, NAVIGATIONS,
};
pub use merge::{merge, FragmentView, MergePolicy};
