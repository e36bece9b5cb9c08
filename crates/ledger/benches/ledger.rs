//! How fast the ledger appends, rebuilds and proves at the size the store
//! rebuilds at start (10 million leaves). Run with `cargo bench -p ledger`;
//! the whole run takes a few minutes and about 1.5 GB of memory.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use ledger::{leaf_hash, verify_consistency, verify_inclusion, Checkpoint, CheckpointSigner, Hash, MerkleTree};

const BIG: u64 = 10_000_000;
const PUSHES: u64 = 100_000;

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

/// Indices and older sizes spread over the tree, so that no single shape of
/// proof is measured.
fn spread(n: u64, count: u64) -> Vec<u64> {
    (1..=count).map(|k| (n / (count + 1)) * k + k * 7919 % 1000).collect()
}

fn benches(c: &mut Criterion) {
    let all = leaves(BIG);

    let mut group = c.benchmark_group("append");
    group.measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(PUSHES));
    let some = &all[..PUSHES as usize];
    group.bench_function("push 100k leaves", |b| {
        b.iter_batched(
            MerkleTree::new,
            |mut tree| {
                for leaf in some {
                    tree.push(*leaf);
                }
                tree
            },
            BatchSize::LargeInput,
        )
    });
    let big = MerkleTree::from_leaf_hashes(all.iter().copied());
    // Amortised over a growing tree, the leaf Vec's occasional doubling included.
    let mut grown = big.clone();
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("push onto 10M", |b| b.iter(|| grown.push(black_box([7; 32]))));
    drop(grown);
    group.finish();

    let mut group = c.benchmark_group("rebuild");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(1)).warm_up_time(Duration::from_millis(1));
    group.throughput(Throughput::Elements(BIG));
    group.bench_function("from_leaf_hashes 10M", |b| {
        b.iter_batched(|| all.clone(), MerkleTree::from_leaf_hashes, BatchSize::PerIteration)
    });
    group.finish();

    let mut group = c.benchmark_group("prove at 10M");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    let indices = spread(BIG, 64);
    let mut i = 0;
    group.bench_function("root", |b| b.iter(|| big.root()));
    group.bench_function("root_at older size", |b| {
        b.iter(|| {
            i = (i + 1) % indices.len();
            big.root_at(black_box(indices[i]))
        })
    });
    group.bench_function("inclusion_proof", |b| {
        b.iter(|| {
            i = (i + 1) % indices.len();
            big.inclusion_proof(black_box(indices[i]), BIG)
        })
    });
    group.bench_function("inclusion_proof in older size", |b| {
        b.iter(|| {
            i = (i + 1) % indices.len();
            big.inclusion_proof(black_box(indices[i] / 2), black_box(indices[i]))
        })
    });
    group.bench_function("consistency_proof", |b| {
        b.iter(|| {
            i = (i + 1) % indices.len();
            big.consistency_proof(black_box(indices[i]), BIG)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("verify at 10M");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    let root = big.root();
    let inclusion: Vec<_> = indices.iter().map(|&i| (i, big.inclusion_proof(i, BIG).unwrap())).collect();
    let consistency: Vec<_> =
        indices.iter().map(|&m| (m, big.root_at(m).unwrap(), big.consistency_proof(m, BIG).unwrap())).collect();
    group.bench_function("verify_inclusion", |b| {
        b.iter(|| {
            i = (i + 1) % inclusion.len();
            let (index, proof) = &inclusion[i];
            assert!(verify_inclusion(&all[*index as usize], *index, BIG, proof, &root));
        })
    });
    group.bench_function("verify_consistency", |b| {
        b.iter(|| {
            i = (i + 1) % consistency.len();
            let (old, old_root, proof) = &consistency[i];
            assert!(verify_consistency(*old, BIG, old_root, &root, proof));
        })
    });
    group.finish();

    let mut group = c.benchmark_group("checkpoint");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    let signer = CheckpointSigner::from_bytes("madoguchi.example.jp/ledger", &[0x42; 32]).unwrap();
    let verifier = signer.verifier();
    let checkpoint = Checkpoint { origin: "madoguchi.example.jp/ledger".into(), size: BIG, root };
    let note = signer.sign(&checkpoint).unwrap();
    group.bench_function("sign", |b| b.iter(|| signer.sign(black_box(&checkpoint)).unwrap()));
    group.bench_function("verify", |b| b.iter(|| verifier.verify(black_box(&note)).unwrap()));
    group.finish();
}

criterion_group!(ledger_benches, benches);
criterion_main!(ledger_benches);
