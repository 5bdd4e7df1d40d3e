//! Record identifiers in each system's own shape, and the seed mixing behind them.
//!
//! Ids are pure functions of `(seed, kind, index)`, so any pass over the population can
//! recompute a record's id (a contact role needs its contact's id) without storing it.

/// Salesforce's base-62 alphabet for the 15-character id body.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Alphabet of the 3-character case-safe suffix.
const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// SplitMix64 finaliser: a bijection on `u64` that scrambles well.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A 32-bit bijective mixer ("lowbias32"); keeps GUIDs unique per kind for indexes below 2^32.
fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// Seed of an independent random stream, e.g. one per person or per file.
pub(crate) fn stream_seed(seed: u64, stream: u64, index: u64) -> u64 {
    mix64(mix64(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F)) ^ index)
}

/// The kinds of records that get ids; also used as stream tags.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Account = 1,
    Contact = 2,
    Opportunity = 3,
    ContactRole = 4,
}

impl Kind {
    /// Salesforce key prefix of this object.
    fn sf_prefix(self) -> &'static [u8; 3] {
        match self {
            Kind::Account => b"001",
            Kind::Contact => b"003",
            Kind::Opportunity => b"006",
            Kind::ContactRole => b"00K",
        }
    }
}

/// An 18-character Salesforce id: key prefix, pod `5g`, a reserved `0`, nine base-62 digits of a
/// per-kind counter, and the case-safe checksum suffix.
pub(crate) fn salesforce_id(seed: u64, kind: Kind, index: u64) -> [u8; 18] {
    let mut id = [b'0'; 18];
    id[..3].copy_from_slice(kind.sf_prefix());
    id[3] = b'5';
    id[4] = b'g';
    id[5] = b'0';
    // Counters start somewhere in the "0000Xxxxx" range, like a real org a few years old.
    let base =
        62u64.pow(5) * (4 + mix64(seed ^ kind as u64) % 40) + mix64(seed.rotate_left(17) ^ kind as u64) % 62u64.pow(4);
    let mut n = base + index;
    for slot in id[6..15].iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    let suffix = salesforce_suffix(&id[..15]);
    id[15..].copy_from_slice(&suffix);
    id
}

/// The 3-character suffix that makes a 15-character Salesforce id case-insensitively unique.
pub(crate) fn salesforce_suffix(body: &[u8]) -> [u8; 3] {
    let mut out = [b'A'; 3];
    for (chunk, slot) in body.chunks(5).zip(out.iter_mut()) {
        let bits =
            chunk.iter().enumerate().filter(|(_, c)| c.is_ascii_uppercase()).fold(0, |acc, (i, _)| acc | (1 << i));
        *slot = SUFFIX[bits];
    }
    out
}

/// A lower-case, version-4 shaped GUID such as Dynamics uses for every record id.
pub(crate) fn dynamics_guid(seed: u64, kind: Kind, index: u64) -> [u8; 36] {
    let stream = mix64(seed ^ (kind as u64) << 56);
    // The first 32 bits are a bijection of the index: ids never collide within a kind.
    let low = mix32((index as u32) ^ (stream as u32));
    let rest = mix64(stream ^ index.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let rest2 = mix64(rest);
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&low.to_be_bytes());
    bytes[4..12].copy_from_slice(&rest.to_be_bytes());
    bytes[12..].copy_from_slice(&rest2.to_be_bytes()[..4]);
    bytes[6] = (bytes[6] & 0x0F) | 0x40;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    let hex = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut pos = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            pos += 1;
        }
        out[pos] = hex[(byte >> 4) as usize];
        out[pos + 1] = hex[(byte & 0x0F) as usize];
        pos += 2;
    }
    out
}

/// Borrows an ASCII id buffer as `&str`.
pub(crate) fn ascii(id: &[u8]) -> &str {
    std::str::from_utf8(id).expect("ids are built from ASCII alphabets")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_ids_have_prefix_and_valid_suffix() {
        let id = salesforce_id(42, Kind::Contact, 7);
        let s = ascii(&id);
        assert!(s.starts_with("0035g0"), "{s}");
        assert_eq!(salesforce_suffix(&id[..15]), id[15..]);
        assert_ne!(salesforce_id(42, Kind::Contact, 8), id);
    }

    #[test]
    fn org_id_constant_has_a_correct_suffix() {
        let org = crate::SALESFORCE_ORG_ID.as_bytes();
        assert_eq!(org.len(), 18);
        assert_eq!(salesforce_suffix(&org[..15]), org[15..]);
    }

    #[test]
    fn guids_are_shaped_and_unique() {
        let a = dynamics_guid(1, Kind::Account, 0);
        let s = ascii(&a);
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!(s.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let set: std::collections::HashSet<_> = (0..10_000).map(|i| dynamics_guid(1, Kind::Account, i)).collect();
        assert_eq!(set.len(), 10_000);
    }
}
