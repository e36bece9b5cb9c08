//! The demo prefecture: one tenant group, three municipalities, six forms
//! adopted from the prefecture's templates, and demo key pairs.
//!
//! Real tenants generate their key pair on their own desk machine and only
//! register the public key here; the demo generates pairs on the counter so
//! a fresh install works at once, and says loudly that it did.

use std::path::{Path, PathBuf};

use store::{NewTenant, NewTenantGroup, Store, StoreError};

pub const GROUP: &str = "midori-pref";

/// The demo forms, as shipped in `demo/forms/`: (form id, definition).
pub const FORMS: &[(&str, &str)] = &[
    ("water-start", include_str!("../../../demo/forms/water-start.toml")),
    ("tax-certificate-booking", include_str!("../../../demo/forms/tax-certificate-booking.toml")),
    ("staff-exam", include_str!("../../../demo/forms/staff-exam.toml")),
    ("information-disclosure", include_str!("../../../demo/forms/information-disclosure.toml")),
    ("car-tax-address-change", include_str!("../../../demo/forms/car-tax-address-change.toml")),
    ("citizen-survey", include_str!("../../../demo/forms/citizen-survey.toml")),
];

/// The prefecture's templates for crisis mode (災害モード): published as
/// templates only; a municipality adopts one when it switches crisis mode
/// on (`madoguchi tenant crisis T on --form damage-report`).
pub const CRISIS_TEMPLATES: &[(&str, &str)] = &[
    ("damage-report", include_str!("../../../demo/forms/damage-report.toml")),
    ("safety-confirmation", include_str!("../../../demo/forms/safety-confirmation.toml")),
];

/// The demo prefecture's postal codes (fictional), in KEN_ALL's layout as
/// shipped in `demo/postal/demo.csv`: loaded into an empty table so address
/// help works on the two-command start; an imported KEN_ALL replaces it.
pub const POSTAL_CSV: &str = include_str!("../../../demo/postal/demo.csv");

/// (id, name ja, name en, contact ja, contact en)
const TENANTS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "aoba-city",
        "青葉市",
        "Aoba City",
        "青葉市役所 市民課　電話 0120-000-101（平日 8時30分〜17時15分）",
        "Aoba City Hall, Citizens Division. Tel 0120-000-101 (weekdays 8:30–17:15)",
    ),
    (
        "sakura-town",
        "桜町",
        "Sakura Town",
        "桜町役場 住民生活課　電話 0120-000-202（平日 8時30分〜17時15分）",
        "Sakura Town Office, Residents Division. Tel 0120-000-202 (weekdays 8:30–17:15)",
    ),
    (
        "kawabe-village",
        "川辺村",
        "Kawabe Village",
        "川辺村役場 総務課　電話 0120-000-303（平日 8時30分〜17時00分）",
        "Kawabe Village Office, General Affairs. Tel 0120-000-303 (weekdays 8:30–17:00)",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("demo key file {path}: {source}")]
    KeyFile { path: PathBuf, source: std::io::Error },
    #[error("demo key file {0} is damaged; delete it to generate a new demo key")]
    BadKey(PathBuf),
    #[error("demo/postal/demo.csv {0}")]
    Postal(#[from] forms::postal::PostalError),
}

/// Ids of the demo tenants.
pub fn tenant_ids() -> impl Iterator<Item = &'static str> {
    TENANTS.iter().map(|t| t.0)
}

/// Creates (or brings up to date) the demo prefecture. Safe to run at every
/// start: unchanged forms keep their version. Demo private keys go to
/// `desk_keys_dir`; the store receives public keys only.
pub async fn seed(store: &Store, desk_keys_dir: &Path) -> Result<(), DemoError> {
    store
        .put_tenant_group(&NewTenantGroup {
            id: GROUP.into(),
            name_ja: "みどり県".into(),
            name_en: "Midori Prefecture".into(),
        })
        .await?;
    for (form_id, definition) in FORMS.iter().chain(CRISIS_TEMPLATES) {
        store.publish_template(GROUP, form_id, definition).await?;
    }
    for (id, name_ja, name_en, contact_ja, contact_en) in TENANTS {
        store
            .put_tenant(&NewTenant {
                id: (*id).into(),
                group_id: Some(GROUP.into()),
                name_ja: (*name_ja).into(),
                name_en: (*name_en).into(),
                contact_ja: (*contact_ja).into(),
                contact_en: (*contact_en).into(),
            })
            .await?;
        for (form_id, _) in FORMS {
            store.adopt_template(id, GROUP, form_id).await?;
        }
        let public = demo_key(desk_keys_dir, id)?;
        store.add_tenant_key(id, &public).await?;
    }
    if store.postal_row_count().await? == 0 {
        store.import_postal_codes(&demo_postal_rows()?).await?;
    }
    seed_rooms(store).await?;
    Ok(())
}

/// 青葉市's demo rooms: a 電子会議室 and a パブリックコメント open for sixty
/// days from the first start (an existing room is left as it is).
async fn seed_rooms(store: &Store) -> Result<(), DemoError> {
    use participation::{Moderation, RoomKind};
    let demo = store::Actor { name: "system:demo".into(), source: None };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let rooms = [
        store::rooms::NewRoom {
            id: "chuo-koen".into(),
            kind: RoomKind::Discussion,
            moderation: Moderation::After,
            title_ja: "中央公園の再整備について話し合いましょう".into(),
            title_en: "Let us talk about renewing Central Park".into(),
            description_ja: "中央公園は来年度から再整備に入ります。**使い方**や、残してほしいもの・新しくほしいものを自由にお書きください。投稿はすぐに掲載され、利用規約に反するものは非表示にします。".into(),
            description_en: "Central Park will be renewed from next year. Tell us how you use it, and what to keep or add. Posts appear at once; those that break the rules are hidden.".into(),
        },
        store::rooms::NewRoom {
            id: "sogo-keikaku".into(),
            kind: RoomKind::PublicComment { opens: now, closes: now + 60 * 86_400 },
            moderation: Moderation::Before,
            title_ja: "青葉市総合計画（案）へのご意見を募集します".into(),
            title_en: "Your views on the Aoba City master plan (draft)".into(),
            description_ja: "計画案は市役所2階の情報コーナーと市のウェブサイトでご覧いただけます。ご意見はお一人1件、締切までにお寄せください。いただいたご意見と市の考え方は、締切後にまとめて公表します。".into(),
            description_en: "The draft is at the information corner on the 2nd floor of City Hall and on the city's website. One opinion per person, by the deadline; the opinions and the city's answers are published after it.".into(),
        },
    ];
    for room in &rooms {
        store.create_room("aoba-city", room, &demo).await?;
    }
    Ok(())
}

/// The demo postal table as the store takes it.
pub fn demo_postal_rows() -> Result<Vec<store::PostalRow>, DemoError> {
    Ok(forms::postal::parse(POSTAL_CSV)?)
}

/// Adds `count` more demo municipalities (デモ町1…, `demo-town-01`…) with
/// the same forms: for drills that need many tenants.
pub async fn seed_towns(store: &Store, desk_keys_dir: &Path, count: usize) -> Result<Vec<String>, DemoError> {
    let mut ids = Vec::new();
    for n in 1..=count {
        let id = format!("demo-town-{n:02}");
        store
            .put_tenant(&NewTenant {
                id: id.clone(),
                group_id: Some(GROUP.into()),
                name_ja: format!("デモ町{n}"),
                name_en: format!("Demo Town {n}"),
                contact_ja: format!("デモ町{n}役場　電話 0120-000-{n:03}"),
                contact_en: format!("Demo Town {n} Office. Tel 0120-000-{n:03}"),
            })
            .await?;
        for (form_id, _) in FORMS {
            store.adopt_template(&id, GROUP, form_id).await?;
        }
        let public = demo_key(desk_keys_dir, &id)?;
        store.add_tenant_key(&id, &public).await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Path of a demo tenant's private key file.
pub fn key_path(desk_keys_dir: &Path, tenant: &str) -> PathBuf {
    desk_keys_dir.join(format!("{tenant}.demo-key"))
}

/// Loads the tenant's demo key pair, generating it on first start.
fn demo_key(dir: &Path, tenant: &str) -> Result<seal::TenantPublicKey, DemoError> {
    let path = key_path(dir, tenant);
    let io = |source| DemoError::KeyFile { path: path.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let encoded = text.lines().rfind(|l| !l.starts_with('#') && !l.trim().is_empty()).unwrap_or("");
            let private = seal::TenantPrivateKey::from_base64(encoded).map_err(|_| DemoError::BadKey(path.clone()))?;
            Ok(private.public())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io)?;
            let pair = seal::TenantKeyPair::generate();
            let text = format!(
                "# DEMO ONLY: private key of demo tenant {tenant} (key id {id}).\n\
                 # Real tenants generate their key pair on their own desk machine and\n\
                 # never copy the private key to the counter.\n{key}\n",
                id = pair.public.id(),
                key = pair.private.to_base64().as_str()
            );
            write_private(&path, &text).map_err(io)?;
            tracing::warn!(
                tenant,
                path = %path.display(),
                "generated a DEMO key pair on the counter; real tenants generate theirs on their desk"
            );
            Ok(pair.public)
        }
        Err(err) => Err(io(err)),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Reads a demo tenant's private key (for tests and the demo desk).
pub fn load_private_key(desk_keys_dir: &Path, tenant: &str) -> Option<seal::TenantPrivateKey> {
    let text = std::fs::read_to_string(key_path(desk_keys_dir, tenant)).ok()?;
    let encoded = text.lines().rfind(|l| !l.starts_with('#') && !l.trim().is_empty())?;
    seal::TenantPrivateKey::from_base64(encoded).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_postal_table_covers_the_demo_municipalities() {
        let rows = super::demo_postal_rows().unwrap();
        let first = rows.iter().find(|r| r.code == "1000001").unwrap();
        assert_eq!(
            (first.prefecture.as_str(), first.city.as_str(), first.town.as_str()),
            ("みどり県", "青葉市", "中央")
        );
        for city in ["青葉市", "桜町", "川辺村"] {
            assert!(rows.iter().any(|r| r.city == city && r.prefecture == "みどり県"), "{city}");
        }
        assert!(rows.iter().all(|r| !r.town.contains('（')), "notes removed");
    }
}
