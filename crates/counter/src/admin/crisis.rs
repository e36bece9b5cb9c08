//! The tenant admin's crisis switch (災害モード): one form to send, and the
//! municipality's residents see the pinned notice and that form first;
//! every other form and the discussion rooms wait (crate::crisis).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use minijinja::context;

use super::{Fields, Visitor};
use crate::{Counter, PageError};

/// The longest notice, in characters.
const NOTICE_MAX_CHARS: usize = 2000;

/// The forms a crisis can be declared with: the prefecture's crisis
/// templates first, then the municipality's own forms.
async fn candidates(counter: &Counter, tenant: &store::Tenant) -> Result<Vec<(String, String)>, PageError> {
    let mut out: Vec<(String, String)> = Vec::new();
    if let Some(group) = &tenant.group_id {
        for template in counter.store.group_templates(group).await? {
            if crate::demo::CRISIS_TEMPLATES.iter().any(|(id, _)| *id == template.form_id) {
                let title = forms::FormDefinition::parse(&template.definition)
                    .map(|d| d.title.ja)
                    .unwrap_or_else(|_| template.form_id.clone());
                out.push((template.form_id.clone(), title));
            }
        }
    }
    for published in counter.store.tenant_forms(&tenant.id).await? {
        if !out.iter().any(|(id, _)| *id == published.form_id) {
            let title = forms::FormDefinition::parse(&published.definition)
                .map(|d| d.title.ja)
                .unwrap_or_else(|_| published.form_id.clone());
            out.push((published.form_id.clone(), title));
        }
    }
    Ok(out)
}

pub(crate) async fn page(
    Extension(visitor): Extension<Visitor>,
    State(counter): State<Arc<Counter>>,
    Path(tenant): Path<String>,
) -> Result<Response, PageError> {
    let tenant = counter.store.tenant(&tenant).await?.ok_or(PageError::NotFound)?;
    let crisis = counter.store.crisis_tenants().await?.into_iter().find(|c| c.tenant == tenant.id);
    let forms: Vec<_> =
        candidates(&counter, &tenant).await?.into_iter().map(|(id, title)| context! { id, title }).collect();
    let name = if visitor.lang == forms::Lang::En { &tenant.name_en } else { &tenant.name_ja };
    counter.admin_pages.render(
        &visitor,
        "admin/crisis.html",
        context! {
            tenant => context! { id => tenant.id, name => name },
            crisis => crisis.map(|c| context! {
                form => c.form, notice_ja => c.notice_ja, notice_en => c.notice_en,
                since => super::format_jst(c.since),
            }),
            forms,
        },
    )
}

pub(crate) async fn switch(
    Extension(visitor): Extension<Visitor>,
    State(counter): State<Arc<Counter>>,
    Path(tenant): Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    let tenant = counter.store.tenant(&tenant).await?.ok_or(PageError::NotFound)?;
    let actor = visitor.actor().name;
    if fields.get("state") == "on" {
        let (form, ja, en) = (fields.get("form"), fields.get("notice_ja"), fields.get("notice_en"));
        if ja.chars().count() > NOTICE_MAX_CHARS || en.chars().count() > NOTICE_MAX_CHARS {
            return Err(PageError::BadRequest);
        }
        if !candidates(&counter, &tenant).await?.iter().any(|(id, _)| id == form) {
            return Err(PageError::BadRequest);
        }
        counter.store.declare_crisis(&tenant.id, form, ja.trim(), en.trim(), &actor).await?;
    } else {
        counter.store.end_crisis(&tenant.id, &actor).await?;
    }
    // This node at once; the others at their next refresh (seconds).
    counter.refresh_tenants().await?;
    Ok(Redirect::to(&format!("/admin/t/{}/crisis", tenant.id)).into_response())
}
