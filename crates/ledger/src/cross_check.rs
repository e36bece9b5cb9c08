//! The ledger against an independent RFC 6962 implementation (the
//! `ct-merkle` crate, hashing with its own SHA-256 from the sha2 0.11 line):
//! both must compute the same roots and the same proofs, and each must
//! accept the other's proofs. A log that only agrees with itself proves
//! nothing to an auditor holding another implementation.

use crate::{leaf_hash, verify_consistency, verify_inclusion, Hash, MerkleTree};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use sha2_independent::Sha256;

const SIZES: [usize; 13] = [1, 2, 3, 5, 7, 8, 9, 16, 17, 100, 1023, 1024, 3001];

fn data(i: usize) -> Vec<u8> {
    format!("madoguchi event {i}").into_bytes()
}

fn theirs(n: usize) -> MemoryBackedTree<Sha256, Vec<u8>> {
    let mut tree = MemoryBackedTree::new();
    for i in 0..n {
        tree.push(data(i));
    }
    tree
}

fn ours(n: usize) -> MerkleTree {
    MerkleTree::from_leaf_hashes((0..n).map(|i| leaf_hash(&data(i))))
}

fn their_root(root: &Hash, size: u64) -> RootHash<Sha256> {
    RootHash::new((*root).into(), size)
}

fn hashes(bytes: &[u8]) -> Vec<Hash> {
    bytes.chunks(32).map(|chunk| chunk.try_into().unwrap()).collect()
}

/// A few indices or sizes spread over 0..n, edges included.
fn probes(n: usize) -> Vec<usize> {
    let mut out = vec![0, 1, n / 3, n / 2, n.saturating_sub(2), n - 1];
    out.retain(|&i| i < n);
    out.dedup();
    out
}

#[test]
fn roots_agree_with_an_independent_implementation() {
    for n in SIZES {
        let (theirs, ours) = (theirs(n), ours(n));
        assert_eq!(theirs.root().as_bytes().as_slice(), ours.root(), "root of {n} leaves");
    }
}

#[test]
fn inclusion_proofs_agree_and_verify_both_ways() {
    for n in SIZES {
        let (theirs, ours) = (theirs(n), ours(n));
        let size = n as u64;
        let root = their_root(&ours.root(), size);
        for i in probes(n) {
            let index = i as u64;
            let our_proof = ours.inclusion_proof(index, size).unwrap();
            let their_proof = theirs.prove_inclusion(i);
            assert_eq!(our_proof, hashes(their_proof.as_bytes()), "PATH({i}, D[{n}])");
            // Theirs accepts ours…
            let ours_for_them = InclusionProof::<Sha256>::from_bytes(our_proof.concat());
            root.verify_inclusion(&data(i), index, &ours_for_them).unwrap();
            // …and ours accepts theirs.
            assert!(verify_inclusion(&leaf_hash(&data(i)), index, size, &hashes(their_proof.as_bytes()), &ours.root()));
            // Both refuse another leaf.
            assert!(root.verify_inclusion(&data(i + 1), index, &ours_for_them).is_err());
        }
    }
}

#[test]
fn consistency_proofs_agree_and_verify_both_ways() {
    for n in SIZES {
        let (theirs, ours) = (theirs(n), ours(n));
        let new_size = n as u64;
        let new_root = their_root(&ours.root(), new_size);
        for old in probes(n).into_iter().map(|i| i + 1) {
            let old_size = old as u64;
            let our_proof = ours.consistency_proof(old_size, new_size).unwrap();
            let their_proof = theirs.prove_consistency(n - old);
            assert_eq!(our_proof, hashes(their_proof.as_bytes()), "PROOF({old}, D[{n}])");
            let old_root = ours.root_at(old_size).unwrap();
            let ours_for_them = ConsistencyProof::<Sha256>::try_from_bytes(our_proof.concat()).unwrap();
            new_root.verify_consistency(&their_root(&old_root, old_size), &ours_for_them).unwrap();
            assert!(verify_consistency(old_size, new_size, &old_root, &ours.root(), &hashes(their_proof.as_bytes())));
            // Both refuse a rewritten history.
            let forged = leaf_hash(b"rewritten");
            if old < n {
                assert!(new_root.verify_consistency(&their_root(&forged, old_size), &ours_for_them).is_err());
                assert!(!verify_consistency(old_size, new_size, &forged, &ours.root(), &our_proof));
            }
        }
    }
}
