//! The append-only Merkle tree: roots of any prefix, and RFC 6962 proofs.

use crate::{empty_root, node_hash, Hash};

/// Height of the lowest cached level of perfect subtrees. Levels 1 to 3 are
/// not stored: a subtree of at most 8 leaves is rehashed on demand (at most
/// 7 node hashes), which costs a proof about 11 extra hashes in all and
/// saves 28 of the 32 bytes per leaf that storing them would take.
const CACHED_FROM: u32 = 4;
/// Leaves under one node of the lowest cached level.
const CHUNK: usize = 1 << CACHED_FROM;

/// An append-only RFC 6962 Merkle tree over leaf hashes, kept in memory.
///
/// It stores every leaf hash, and the hash of every *complete* (perfect)
/// subtree of height 4 and more as soon as its last leaf arrives. Every
/// subtree that RFC 6962's recursion touches in the tree of any size is
/// either such a perfect subtree (aligned on its own size) or a right edge
/// that decomposes into at most 64 of them, so:
///
/// - [`MerkleTree::push`] costs one node hash on average (amortised O(1));
/// - [`MerkleTree::from_leaf_hashes`] costs n − 1 node hashes, no more;
/// - [`MerkleTree::root_at`], [`MerkleTree::inclusion_proof`] and
///   [`MerkleTree::consistency_proof`] cost O(log n) lookups plus at most a
///   few dozen hashes, for any earlier tree size too.
///
/// Memory: 32 bytes per leaf for its hash, plus 32·(1/16 + 1/32 + …) ≈ 4
/// bytes per leaf for the cached subtrees, so about **36 bytes per leaf**
/// (≈ 360 MB for 10 million leaves); a tree grown by [`MerkleTree::push`]
/// may hold up to twice that in `Vec` headroom.
#[derive(Clone, Default)]
pub struct MerkleTree {
    leaves: Vec<Hash>,
    /// `levels[j][i]` is the hash of the perfect subtree of height
    /// `CACHED_FROM + j` over leaves `[i·2^h, (i+1)·2^h)`; `levels[j]` holds
    /// exactly `len >> (CACHED_FROM + j)` entries and is never empty.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the tree from its leaf hashes in order, as the store keeps
    /// them (n − 1 node hashes for n leaves).
    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let leaves: Vec<Hash> = leaves.into_iter().collect();
        let mut levels = Vec::new();
        let mut level: Vec<Hash> = leaves.chunks_exact(CHUNK).map(fold_perfect).collect();
        while !level.is_empty() {
            let next = level.chunks_exact(2).map(|pair| node_hash(&pair[0], &pair[1])).collect();
            levels.push(level);
            level = next;
        }
        MerkleTree { leaves, levels }
    }

    /// Appends a leaf hash and returns its index.
    pub fn push(&mut self, leaf: Hash) -> u64 {
        let index = self.len();
        self.leaves.push(leaf);
        let len = self.leaves.len();
        if len.is_multiple_of(CHUNK) {
            let mut hash = fold_perfect(&self.leaves[len - CHUNK..]);
            let mut height = 0;
            loop {
                if self.levels.len() == height {
                    self.levels.push(Vec::new());
                }
                let level = &mut self.levels[height];
                level.push(hash);
                let count = level.len();
                if !count.is_multiple_of(2) {
                    break;
                }
                hash = node_hash(&level[count - 2], &level[count - 1]);
                height += 1;
            }
        }
        index
    }

    /// The number of leaves.
    pub fn len(&self) -> u64 {
        self.leaves.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The leaf hash at `index`, if there is one.
    pub fn leaf(&self, index: u64) -> Option<&Hash> {
        self.leaves.get(usize::try_from(index).ok()?)
    }

    /// All leaf hashes, in order.
    pub fn leaves(&self) -> &[Hash] {
        &self.leaves
    }

    /// The root of the whole tree, MTH(D[0:len]) ([`empty_root`] when empty).
    pub fn root(&self) -> Hash {
        self.root_at(self.len()).unwrap_or_else(empty_root)
    }

    /// The root of the first `size` leaves, MTH(D[0:size]), as it was when
    /// the tree had that size; `None` if the tree has fewer leaves.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        match size {
            0 => Some(empty_root()),
            size if size <= self.len() => Some(self.range_hash(0, size)),
            _ => None,
        }
    }

    /// RFC 6962 §2.1.1 PATH(index, D[0:size]): the audit path proving that
    /// leaf `index` is in the tree of the first `size` leaves, nearest the
    /// leaf first. `None` unless `index < size <= len`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if size > self.len() || index >= size {
            return None;
        }
        let mut proof = Vec::with_capacity(64);
        // The subtree D[start:start+n] the recursion is in, and the leaf's
        // index inside it.
        let (mut start, mut n, mut m) = (0, size, index);
        while n > 1 {
            let k = split(n);
            if m < k {
                proof.push(self.range_hash(start + k, n - k));
                n = k;
            } else {
                proof.push(self.perfect(k.trailing_zeros(), start >> k.trailing_zeros()));
                start += k;
                m -= k;
                n -= k;
            }
        }
        proof.reverse();
        Some(proof)
    }

    /// RFC 6962 §2.1.2 PROOF(old_size, D[0:new_size]): the hashes proving
    /// that the tree of the first `new_size` leaves extends the tree of the
    /// first `old_size`. Empty when `old_size` is 0 or equals `new_size`;
    /// `None` unless `old_size <= new_size <= len`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Option<Vec<Hash>> {
        if new_size > self.len() || old_size > new_size {
            return None;
        }
        let mut proof = Vec::with_capacity(64);
        if old_size == 0 || old_size == new_size {
            return Some(proof);
        }
        // SUBPROOF(m, D[start:start+n], complete), unrolled.
        let (mut start, mut n, mut m, mut complete) = (0, new_size, old_size, true);
        loop {
            if m == n {
                if !complete {
                    proof.push(self.range_hash(start, n));
                }
                break;
            }
            let k = split(n);
            if m <= k {
                proof.push(self.range_hash(start + k, n - k));
                n = k;
            } else {
                proof.push(self.perfect(k.trailing_zeros(), start >> k.trailing_zeros()));
                start += k;
                m -= k;
                n -= k;
                complete = false;
            }
        }
        proof.reverse();
        Some(proof)
    }

    /// The hash of the perfect subtree of the given height whose leaves are
    /// `[index·2^height, (index+1)·2^height)`; the caller keeps it in range.
    fn perfect(&self, height: u32, index: u64) -> Hash {
        if height < CACHED_FROM {
            // In range: the caller stays within `len` leaves.
            let start = (index << height) as usize;
            fold_perfect(&self.leaves[start..start + (1 << height)])
        } else {
            self.levels[(height - CACHED_FROM) as usize][index as usize]
        }
    }

    /// MTH(D[start:start+n]) for n ≥ 1 and `start` a multiple of the
    /// smallest power of two ≥ n, as every subtree in RFC 6962's recursion
    /// is: the perfect subtrees of n's binary decomposition, largest first,
    /// folded from the right.
    fn range_hash(&self, start: u64, n: u64) -> Hash {
        let mut parts = [[0u8; 32]; 64];
        let mut count = 0;
        let (mut offset, mut rest) = (start, n);
        while rest > 0 {
            let height = 63 - rest.leading_zeros();
            parts[count] = self.perfect(height, offset >> height);
            count += 1;
            offset += 1 << height;
            rest -= 1 << height;
        }
        let mut hash = parts[count - 1];
        for part in parts[..count - 1].iter().rev() {
            hash = node_hash(part, &hash);
        }
        hash
    }
}

/// The largest power of two smaller than `n` (n ≥ 2): RFC 6962's split.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The root of a perfect subtree given its leaves (a power of two of them).
fn fold_perfect(leaves: &[Hash]) -> Hash {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let half = leaves.len() / 2;
    node_hash(&fold_perfect(&leaves[..half]), &fold_perfect(&leaves[half..]))
}

/// Shows the size and root, never millions of hashes.
impl std::fmt::Debug for MerkleTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MerkleTree({} leaves, root {})", self.len(), hex::encode(self.root()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{leaf_hash, verify_consistency, verify_inclusion};

    // RFC 6962 §2.1, written straight from the text over a slice of leaf
    // hashes (MTH of one entry is its leaf hash), with no caching at all.

    fn k_of(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = k_of(n);
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
        let n = d.len();
        if n == 1 {
            return vec![];
        }
        let k = k_of(n);
        if m < k {
            [path(m, &d[..k]), vec![mth(&d[k..])]].concat()
        } else {
            [path(m - k, &d[k..]), vec![mth(&d[..k])]].concat()
        }
    }

    fn proof(m: usize, d: &[Hash]) -> Vec<Hash> {
        subproof(m, d, true)
    }

    fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![mth(d)] };
        }
        let k = k_of(n);
        if m <= k {
            [subproof(m, &d[..k], b), vec![mth(&d[k..])]].concat()
        } else {
            [subproof(m - k, &d[k..], false), vec![mth(&d[..k])]].concat()
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect()
    }

    fn pushed(leaves: &[Hash]) -> MerkleTree {
        let mut tree = MerkleTree::new();
        for (i, leaf) in leaves.iter().enumerate() {
            assert_eq!(tree.push(*leaf), i as u64);
        }
        tree
    }

    fn unhex(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// The Certificate Transparency reference leaves.
    fn ct_leaves() -> Vec<Hash> {
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
            .iter()
            .map(|h| leaf_hash(&hex::decode(h).unwrap()))
            .collect()
    }

    #[test]
    fn roots_match_the_published_certificate_transparency_values() {
        let roots = [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let tree = MerkleTree::from_leaf_hashes(ct_leaves());
        for (size, root) in roots.iter().enumerate() {
            assert_eq!(tree.root_at(size as u64), Some(unhex(root)), "size {size}");
        }
        assert_eq!(tree.root(), unhex(roots[8]));
        assert_eq!(MerkleTree::new().root(), empty_root());
    }

    #[test]
    fn proofs_match_the_published_certificate_transparency_values() {
        let tree = MerkleTree::from_leaf_hashes(ct_leaves());
        let hashes = |list: &[&str]| list.iter().map(|h| unhex(h)).collect::<Vec<_>>();
        let inclusion = [
            (
                0,
                8,
                hashes(&[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ]),
            ),
            (
                5,
                8,
                hashes(&[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ]),
            ),
        ];
        for (index, size, expected) in inclusion {
            assert_eq!(tree.inclusion_proof(index, size).unwrap(), expected, "inclusion {index} of {size}");
        }
        let consistency = [
            (
                2,
                8,
                hashes(&[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ]),
            ),
            (
                6,
                8,
                hashes(&[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ]),
            ),
            (
                2,
                5,
                hashes(&[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ]),
            ),
        ];
        for (old, new, expected) in consistency {
            assert_eq!(tree.consistency_proof(old, new).unwrap(), expected, "consistency {old} -> {new}");
        }
    }

    #[test]
    fn every_root_and_inclusion_proof_up_to_64_leaves_is_the_rfc_one_and_verifies() {
        let all = leaves(64);
        let built = MerkleTree::from_leaf_hashes(all.clone());
        for n in 1..=64usize {
            let d = &all[..n];
            let exact = pushed(d);
            let root = mth(d);
            assert_eq!(exact.root(), root, "root of {n} leaves (pushed)");
            assert_eq!(MerkleTree::from_leaf_hashes(d.to_vec()).root(), root, "root of {n} leaves (built)");
            assert_eq!(built.root_at(n as u64), Some(root), "root of the first {n} of 64 leaves");
            for m in 0..n {
                let expected = path(m, d);
                for tree in [&exact, &built] {
                    let proof = tree.inclusion_proof(m as u64, n as u64).unwrap();
                    assert_eq!(proof, expected, "PATH({m}, D[{n}])");
                }
                assert!(verify_inclusion(&d[m], m as u64, n as u64, &expected, &root), "PATH({m}, D[{n}]) verifies");
            }
        }
    }

    #[test]
    fn every_consistency_proof_up_to_64_leaves_is_the_rfc_one_and_verifies() {
        let all = leaves(64);
        let built = MerkleTree::from_leaf_hashes(all.clone());
        for n in 1..=64usize {
            let exact = pushed(&all[..n]);
            for m in 1..=n {
                let expected = proof(m, &all[..n]);
                assert_eq!(built.consistency_proof(m as u64, n as u64).unwrap(), expected, "PROOF({m}, D[{n}])");
                assert_eq!(exact.consistency_proof(m as u64, n as u64).unwrap(), expected, "PROOF({m}, D[{n}])");
                let (old_root, new_root) = (mth(&all[..m]), mth(&all[..n]));
                assert!(verify_consistency(m as u64, n as u64, &old_root, &new_root, &expected), "{m} -> {n}");
            }
            // Every tree extends the empty one.
            assert_eq!(built.consistency_proof(0, n as u64), Some(vec![]));
            assert!(verify_consistency(0, n as u64, &empty_root(), &mth(&all[..n]), &[]));
        }
    }

    #[test]
    fn larger_trees_agree_with_the_rfc_definitions_across_every_cached_level() {
        // 1000 leaves span cached heights 4 to 9, with ragged right edges.
        let all = leaves(1000);
        let tree = MerkleTree::from_leaf_hashes(all.clone());
        for n in [1000usize, 999, 768, 640, 513, 512, 511, 257, 100, 17, 16, 15] {
            let d = &all[..n];
            assert_eq!(tree.root_at(n as u64), Some(mth(d)), "root {n}");
            for m in [0, 1, 7, 8, 15, 16, 255, 256, 500, 511, 512, 767, 998, 999] {
                if m < n {
                    assert_eq!(tree.inclusion_proof(m as u64, n as u64).unwrap(), path(m, d), "PATH({m}, D[{n}])");
                }
                if (1..=n).contains(&m) {
                    assert_eq!(tree.consistency_proof(m as u64, n as u64).unwrap(), proof(m, d), "PROOF({m}, D[{n}])");
                }
            }
        }
    }

    #[test]
    fn pushing_builds_exactly_what_rebuilding_builds() {
        let all = leaves(300);
        let mut tree = MerkleTree::new();
        for (n, leaf) in all.iter().enumerate() {
            let rebuilt = MerkleTree::from_leaf_hashes(all[..n].to_vec());
            assert_eq!(tree.leaves, rebuilt.leaves);
            assert_eq!(tree.levels, rebuilt.levels, "cached levels after {n} leaves");
            assert_eq!(tree.root(), rebuilt.root());
            tree.push(*leaf);
        }
        // Extending a rebuilt tree keeps working too.
        let mut extended = MerkleTree::from_leaf_hashes(all[..123].to_vec());
        for leaf in &all[123..] {
            extended.push(*leaf);
        }
        assert_eq!(extended.levels, tree.levels);
        assert_eq!(extended.root(), mth(&all));
    }

    #[test]
    fn out_of_range_requests_answer_none() {
        let tree = MerkleTree::from_leaf_hashes(leaves(10));
        assert_eq!(tree.root_at(11), None);
        assert_eq!(tree.inclusion_proof(10, 10), None);
        assert_eq!(tree.inclusion_proof(3, 11), None);
        assert_eq!(tree.inclusion_proof(0, 0), None);
        assert_eq!(tree.consistency_proof(5, 11), None);
        assert_eq!(tree.consistency_proof(6, 5), None);
        assert_eq!(tree.consistency_proof(10, 10), Some(vec![]));
        assert_eq!(tree.leaf(9), Some(&leaves(10)[9]));
        assert_eq!(tree.leaf(10), None);
        assert_eq!(tree.leaf(u64::MAX), None);
        let empty = MerkleTree::new();
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_eq!(empty.root_at(0), Some(empty_root()));
        assert_eq!(empty.consistency_proof(0, 0), Some(vec![]));
        assert!(!tree.is_empty());
    }

    #[test]
    fn a_changed_leaf_fails_verification() {
        let all = leaves(37);
        let tree = MerkleTree::from_leaf_hashes(all.clone());
        let root = tree.root();
        for i in 0..37u64 {
            let proof = tree.inclusion_proof(i, 37).unwrap();
            assert!(verify_inclusion(&all[i as usize], i, 37, &proof, &root));
            assert!(!verify_inclusion(&leaf_hash(b"forged"), i, 37, &proof, &root), "forged leaf {i}");
            // The row edited in the database: the rebuilt tree no longer has the signed root.
            let mut edited = all.clone();
            edited[i as usize] = leaf_hash(b"edited");
            let tampered = MerkleTree::from_leaf_hashes(edited);
            assert_ne!(tampered.root(), root);
            let proof = tampered.inclusion_proof(i, 37).unwrap();
            assert!(!verify_inclusion(&leaf_hash(b"edited"), i, 37, &proof, &root), "edited leaf {i}");
            // Every checkpoint taken after the edited leaf was added now fails.
            for old in (i + 1)..37 {
                let proof = tampered.consistency_proof(old, 37).unwrap();
                let signed_old_root = tree.root_at(old).unwrap();
                assert!(!verify_consistency(old, 37, &signed_old_root, &tampered.root(), &proof), "{i} in {old}");
            }
        }
    }

    #[test]
    fn a_swapped_pair_fails_verification() {
        let all = leaves(37);
        let tree = MerkleTree::from_leaf_hashes(all.clone());
        for i in 0..36usize {
            let mut swapped = all.clone();
            swapped.swap(i, i + 1);
            let tampered = MerkleTree::from_leaf_hashes(swapped);
            assert_ne!(tampered.root(), tree.root(), "swap {i}");
            let proof = tampered.inclusion_proof(i as u64, 37).unwrap();
            assert!(!verify_inclusion(&all[i + 1], i as u64, 37, &proof, &tree.root()));
            // The old checkpoint covered the swapped pair: no consistency.
            let old = i as u64 + 2;
            let proof = tampered.consistency_proof(old, 37).unwrap();
            assert!(!verify_consistency(old, 37, &tree.root_at(old).unwrap(), &tampered.root(), &proof));
        }
    }

    #[test]
    fn a_removed_leaf_fails_verification() {
        let all = leaves(37);
        let tree = MerkleTree::from_leaf_hashes(all.clone());
        for i in 0..37usize {
            let mut removed = all.clone();
            removed.remove(i);
            // Even when the gap is hidden by appending another event later.
            removed.push(leaf_hash(b"appended later"));
            let tampered = MerkleTree::from_leaf_hashes(removed);
            for old in (i as u64 + 1)..=37 {
                let signed = tree.root_at(old).unwrap();
                assert_ne!(tampered.root_at(old), Some(signed), "remove {i}, size {old}");
                let proof = tampered.consistency_proof(old, 37).unwrap();
                assert!(!verify_consistency(old, 37, &signed, &tampered.root(), &proof), "remove {i}, {old}");
            }
            // Without the cover-up the log is shorter than the last checkpoint:
            // no consistency proof up to that checkpoint's size can even be made.
            let shorter =
                MerkleTree::from_leaf_hashes(all.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, h)| *h));
            assert_eq!(shorter.consistency_proof(36, 37), None);
            if i < 36 {
                assert_ne!(shorter.root(), tree.root_at(36).unwrap(), "remove {i} without appending");
            }
        }
    }

    #[test]
    fn debug_shows_size_and_root_only() {
        let tree = MerkleTree::from_leaf_hashes(ct_leaves());
        assert_eq!(
            format!("{tree:?}"),
            "MerkleTree(8 leaves, root 5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328)"
        );
    }
}
