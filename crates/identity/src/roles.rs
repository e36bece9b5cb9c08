//! Roles and the one table of what each may do.

use serde::{Deserialize, Serialize};

/// A staff role. Every role but [`Role::Operator`] is held for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Runs the installation: tenants and their first admins. Cannot see
    /// any submission, not even its receipt data.
    Operator,
    /// Runs one municipality: its staff, forms, submissions' receipt data
    /// and its ledger.
    TenantAdmin,
    /// Publishes and edits the tenant's forms.
    FormAdmin,
    /// Handles submissions (on the desk; on the counter, their receipt data).
    Processor,
    /// Reads the tenant's ledger, and nothing else.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Operator, Role::TenantAdmin, Role::FormAdmin, Role::Processor, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::TenantAdmin => "tenant-admin",
            Role::FormAdmin => "form-admin",
            Role::Processor => "processor",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether a grant of this role names a tenant.
    pub fn is_per_tenant(self) -> bool {
        self != Role::Operator
    }
}

/// What a request wants to do. Routes name one; [`allows`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Create tenants, take one offline, see installation-wide state.
    ManageTenants,
    /// Create staff accounts and grant roles, lift locks.
    ManageStaff,
    /// Create operator accounts.
    ManageOperators,
    /// See and change the tenant's forms.
    ManageForms,
    /// See the tenant's submissions (receipt data on the counter; the
    /// opened record on the desk).
    ViewSubmissions,
    /// Change a submission's status, comment, export.
    ProcessSubmissions,
    /// Read the ledger (and export it).
    ViewLedger,
    /// Open discussion rooms and public comments, moderate their posts
    /// and publish a public comment's closing report.
    ModerateRooms,
    /// Switch the tenant's crisis mode (災害モード) on and off.
    DeclareCrisis,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::ManageTenants,
        Action::ManageStaff,
        Action::ManageOperators,
        Action::ManageForms,
        Action::ViewSubmissions,
        Action::ProcessSubmissions,
        Action::ViewLedger,
        Action::ModerateRooms,
        Action::DeclareCrisis,
    ];
}

/// What a web route needs; the counter's console and the desk each list
/// every route with one of these, and one guard per server checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Sign-in, enrolment, language, static assets.
    Anyone,
    /// The password was right; the second factor is due.
    SecondFactorDue,
    /// Any account that finished signing in.
    SignedIn,
    /// An action (on the tenant of the path, or the server's own tenant).
    Can(Action),
}

/// The table. Deny by default: a pair not listed is refused.
pub fn allows(role: Role, action: Action) -> bool {
    use Action::*;
    use Role::*;
    matches!(
        (role, action),
        (Operator, ManageTenants | ManageStaff | ManageOperators | ViewLedger | DeclareCrisis)
            | (
                TenantAdmin,
                ManageStaff
                    | ManageForms
                    | ViewSubmissions
                    | ProcessSubmissions
                    | ViewLedger
                    | ModerateRooms
                    | DeclareCrisis
            )
            | (FormAdmin, ManageForms | ModerateRooms)
            | (Processor, ViewSubmissions | ProcessSubmissions)
            | (Auditor, ViewLedger)
    )
}

/// One role held by one account: for a tenant, or installation-wide
/// (operator, tenant None).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub role: Role,
    pub tenant: Option<String>,
}

impl Grant {
    /// Whether this grant permits `action` on `tenant` (None: an
    /// installation-wide action). The operator's grant covers every tenant
    /// for what the operator may do at all; a tenant role covers its tenant.
    pub fn permits(&self, action: Action, tenant: Option<&str>) -> bool {
        if !allows(self.role, action) {
            return false;
        }
        match (&self.tenant, tenant) {
            (None, _) => self.role == Role::Operator,
            (Some(mine), Some(wanted)) => mine == wanted,
            (Some(_), None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_can_never_see_submissions() {
        assert!(!allows(Role::Operator, Action::ViewSubmissions));
        assert!(!allows(Role::Operator, Action::ProcessSubmissions));
        let operator = Grant { role: Role::Operator, tenant: None };
        assert!(!operator.permits(Action::ViewSubmissions, Some("aoba")));
        assert!(operator.permits(Action::ManageStaff, Some("aoba")));
    }

    #[test]
    fn a_tenant_role_covers_its_own_tenant_only() {
        let admin = Grant { role: Role::TenantAdmin, tenant: Some("aoba".into()) };
        assert!(admin.permits(Action::ManageStaff, Some("aoba")));
        assert!(!admin.permits(Action::ManageStaff, Some("sakura")));
        assert!(!admin.permits(Action::ManageTenants, None));
        assert!(!admin.permits(Action::ManageStaff, None));
        let forged = Grant { role: Role::Auditor, tenant: None };
        assert!(!forged.permits(Action::ViewLedger, Some("aoba")), "a tenant role without a tenant grants nothing");
    }

    #[test]
    fn rooms_are_moderated_by_tenant_admins_and_form_admins_only() {
        let moderators: Vec<Role> = Role::ALL.into_iter().filter(|r| allows(*r, Action::ModerateRooms)).collect();
        assert_eq!(moderators, vec![Role::TenantAdmin, Role::FormAdmin]);
        let forms = Grant { role: Role::FormAdmin, tenant: Some("aoba".into()) };
        assert!(forms.permits(Action::ModerateRooms, Some("aoba")));
        assert!(!forms.permits(Action::ModerateRooms, Some("sakura")));
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
