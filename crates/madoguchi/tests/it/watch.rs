//! The watch on the counter: a stolen desk key that pulls again what its
//! desk already holds is frozen before it gets the records.

use testkit::Engine;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_desk_key_pulling_everything_again_is_frozen_before_it_gets_a_record() {
    let counter = crate::start(Engine::Sqlite).await;
    let desk = crate::desk::set_up_desk(&counter, "aoba-city");
    let store = counter.store().await;
    let public = store.current_tenant_key("aoba-city").await.unwrap().unwrap();
    testkit::seal_into_store(&store, "aoba-city", &public, 400, 16, |i| format!("{{\"n\":{i}}}").into_bytes()).await;

    // The real desk takes the 400 new records: its job, nothing counted.
    assert!(desk.sync().contains("synced: 400 new records"));
    assert!(desk.sync().contains("synced: 0 new records"));

    // The key is copied; the thief starts from nothing and pulls it all.
    let keys = desk.unlock();
    let thief_dir = tempfile::tempdir().unwrap();
    let thief_store =
        desk::DeskStore::open(&format!("sqlite://{}", thief_dir.path().join("thief.sqlite").display())).await.unwrap();
    let client = desk::SyncClient::new(&counter.url).unwrap();
    let stolen = client.sync(&keys, &thief_store).await;
    assert!(stolen.is_err(), "the re-pull is refused");
    assert_eq!(thief_store.count_records().await.unwrap(), 0, "not one record left the counter");

    // The key is frozen for everyone, the real desk included, until staff
    // have looked; the ledger says why.
    let refused = desk.command(&["desk", "sync"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("suspended"));
    let entries = store.ledger_entries(0, 10_000).await.unwrap();
    let alerts: Vec<&str> =
        entries.iter().filter(|e| e.event.kind.as_str() == "alert").map(|e| e.event.detail.as_str()).collect();
    assert!(alerts.iter().any(|d| d.starts_with("burst: 400 records")), "{alerts:?}");
    assert!(alerts.contains(&"frozen: desk key suspended"), "{alerts:?}");
}
