//! Proof verification, written from RFC 9162 §2.1.3.2 and §2.1.4.2 and
//! sharing nothing with [`crate::MerkleTree`] but the two hash functions: a
//! verifier (an auditor, `madoguchi ledger verify`, a resident checking a
//! receipt) holds only hashes and sizes, never the tree.

use crate::{empty_root, node_hash, Hash};

/// True iff `proof` shows that `leaf` (a leaf hash) is leaf number `index` of
/// the tree of `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
///
/// As in the RFC, the proof binds the leaf to the root, not the size to the
/// root: a path can fit several sizes (the path of leaf 0 in 3 leaves also
/// fits 4). Take `size` and `root` together from one signed [`crate::Checkpoint`].
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// True iff `proof` shows that the tree of `new_size` leaves with root
/// `new_root` extends (has as its prefix) the tree of `old_size` leaves with
/// root `old_root` (RFC 9162 §2.1.4.2).
///
/// The two cases the RFC leaves out are decided as RFC 6962's PROOF gives
/// them: equal sizes need an empty proof and equal roots; every tree extends
/// the empty tree, whose root must then be [`empty_root`], with an empty proof.
pub fn verify_consistency(old_size: u64, new_size: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    if proof.is_empty() {
        return false;
    }
    // When the old tree is a perfect subtree of the new one, its root is the
    // first element of the path and the proof leaves it out.
    let (first, rest) = if old_size.is_power_of_two() { (old_root, proof) } else { (&proof[0], &proof[1..]) };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *old_root && sr == *new_root && sn == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{leaf_hash, MerkleTree};

    fn tree(n: u64) -> MerkleTree {
        MerkleTree::from_leaf_hashes((0..n).map(|i| leaf_hash(&i.to_be_bytes())))
    }

    /// Every way to spoil a valid proof: flip a bit in each element, swap
    /// each adjacent pair, drop each element, add one at either end.
    fn spoiled(proof: &[Hash]) -> Vec<Vec<Hash>> {
        let mut out = Vec::new();
        for i in 0..proof.len() {
            let mut flipped = proof.to_vec();
            flipped[i][i % 32] ^= 0x01;
            out.push(flipped);
            let mut dropped = proof.to_vec();
            dropped.remove(i);
            out.push(dropped);
            if i + 1 < proof.len() && proof[i] != proof[i + 1] {
                let mut swapped = proof.to_vec();
                swapped.swap(i, i + 1);
                out.push(swapped);
            }
        }
        out.push([proof, &[[0xab; 32]]].concat());
        out.push([&[[0xab; 32]], proof].concat());
        out
    }

    #[test]
    fn a_spoiled_inclusion_proof_fails() {
        let t = tree(45);
        for n in 1..=45 {
            let root = t.root_at(n).unwrap();
            for i in 0..n {
                let leaf = t.leaf(i).unwrap();
                let proof = t.inclusion_proof(i, n).unwrap();
                assert!(verify_inclusion(leaf, i, n, &proof, &root));
                for bad in spoiled(&proof) {
                    assert!(!verify_inclusion(leaf, i, n, &bad, &root), "{i} of {n}: {}", bad.len());
                }
                // The right proof, but the wrong claim.
                assert!(!verify_inclusion(leaf, i, n, &proof, &t.root_at(n - 1).unwrap()));
                assert!(!verify_inclusion(leaf, n, n, &proof, &root));
                assert!(!verify_inclusion(leaf, u64::MAX, n, &proof, &root));
                if n > 1 {
                    let other = (i + 1) % n;
                    assert!(!verify_inclusion(leaf, other, n, &proof, &root), "{i} as {other} of {n}");
                    assert!(!verify_inclusion(t.leaf(other).unwrap(), i, n, &proof, &root));
                }
            }
        }
        assert!(!verify_inclusion(&[0; 32], 0, 0, &[], &empty_root()));
    }

    #[test]
    fn a_spoiled_consistency_proof_fails() {
        let t = tree(45);
        for new in 1..=45 {
            let new_root = t.root_at(new).unwrap();
            for old in 1..new {
                let old_root = t.root_at(old).unwrap();
                let proof = t.consistency_proof(old, new).unwrap();
                assert!(verify_consistency(old, new, &old_root, &new_root, &proof));
                for bad in spoiled(&proof) {
                    assert!(!verify_consistency(old, new, &old_root, &new_root, &bad), "{old} -> {new}");
                }
                assert!(!verify_consistency(old, new, &new_root, &new_root, &proof));
                assert!(!verify_consistency(old, new, &old_root, &old_root, &proof));
                assert!(!verify_consistency(new, old, &new_root, &old_root, &proof));
                assert!(!verify_consistency(old, new, &old_root, &new_root, &[]));
                if old > 1 {
                    let older = t.root_at(old - 1).unwrap();
                    assert!(
                        !verify_consistency(old - 1, new, &older, &new_root, &proof),
                        "{old} as {} -> {new}",
                        old - 1
                    );
                }
            }
        }
    }

    #[test]
    fn the_degenerate_cases_are_decided_as_documented() {
        let t = tree(8);
        let (r4, r5) = (t.root_at(4).unwrap(), t.root_at(5).unwrap());
        assert!(verify_consistency(4, 4, &r4, &r4, &[]));
        assert!(!verify_consistency(4, 4, &r4, &r5, &[]));
        assert!(!verify_consistency(4, 4, &r4, &r4, &[r4]));
        assert!(verify_consistency(0, 5, &empty_root(), &r5, &[]));
        assert!(verify_consistency(0, 0, &empty_root(), &empty_root(), &[]));
        assert!(!verify_consistency(0, 5, &r4, &r5, &[]));
        assert!(!verify_consistency(0, 5, &empty_root(), &r5, &[r4]));
        assert!(!verify_consistency(5, 4, &r5, &r4, &[]));
    }
}
