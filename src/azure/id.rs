//! ARM resource IDs: parse, format, compare case-insensitively (ARM treats IDs so), and build the
//! child paths of a connector's DevOps resources. Names are kept decoded; URL building percent-
//! encodes each name as one path segment, so a GitLab FQN such as `group$sub` or a name with a
//! space cannot change the path.

use std::fmt;

/// A parsed ARM resource ID under a resource group:
/// `/subscriptions/{s}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}[/{type}/{name}]...`.
#[derive(Debug, Clone)]
pub struct ResourceId {
    pub subscription: String,
    pub resource_group: String,
    pub namespace: String,
    /// `(type, name)` pairs, outermost first; the first is the top-level resource.
    pub segments: Vec<(String, String)>,
}

/// Why a string is not a resource ID lifeboat can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not an ARM resource ID: {reason} (expected /subscriptions/<id>/resourceGroups/<name>/providers/Microsoft.Security/securityConnectors/<name>)")]
pub struct ResourceIdError {
    pub input: String,
    pub reason: &'static str,
}

impl ResourceId {
    /// The ID of a security connector.
    pub fn connector(subscription: &str, resource_group: &str, name: &str) -> ResourceId {
        ResourceId {
            subscription: subscription.to_owned(),
            resource_group: resource_group.to_owned(),
            namespace: "Microsoft.Security".to_owned(),
            segments: vec![("securityConnectors".to_owned(), name.to_owned())],
        }
    }

    /// Parses an ID; rejects anything that is not a resource under a resource group.
    pub fn parse(input: &str) -> Result<ResourceId, ResourceIdError> {
        let err = |reason| ResourceIdError { input: input.to_owned(), reason };
        let trimmed = input.trim();
        let rest = trimmed.strip_prefix('/').ok_or_else(|| err("it does not start with '/'"))?;
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(err("it has an empty segment"));
        }
        if parts.len() < 8 {
            return Err(err("it is too short"));
        }
        if !parts[0].eq_ignore_ascii_case("subscriptions") {
            return Err(err("it does not start with /subscriptions"));
        }
        if !parts[2].eq_ignore_ascii_case("resourceGroups") {
            return Err(err("the third segment is not resourceGroups"));
        }
        if !parts[4].eq_ignore_ascii_case("providers") {
            return Err(err("the fifth segment is not providers"));
        }
        let pairs = &parts[6..];
        if pairs.len() % 2 != 0 {
            return Err(err("a resource type has no name"));
        }
        Ok(ResourceId {
            subscription: parts[1].to_owned(),
            resource_group: parts[3].to_owned(),
            namespace: parts[5].to_owned(),
            segments: pairs.chunks(2).map(|c| (c[0].to_owned(), c[1].to_owned())).collect(),
        })
    }

    /// The name of the innermost resource.
    pub fn name(&self) -> &str {
        self.segments.last().map(|(_, n)| n.as_str()).unwrap_or_default()
    }

    /// The full type, e.g. `Microsoft.Security/securityConnectors/devops`.
    pub fn resource_type(&self) -> String {
        let mut t = self.namespace.clone();
        for (ty, _) in &self.segments {
            t.push('/');
            t.push_str(ty);
        }
        t
    }

    /// A child resource of this one.
    pub fn child(&self, ty: &str, name: &str) -> ResourceId {
        let mut c = self.clone();
        c.segments.push((ty.to_owned(), name.to_owned()));
        c
    }

    /// The connector this resource belongs to (itself when it is one).
    pub fn connector_id(&self) -> ResourceId {
        let mut c = self.clone();
        c.segments.truncate(1);
        c
    }

    /// `{connector}/devops/default`.
    pub fn devops(&self) -> ResourceId {
        self.connector_id().child("devops", "default")
    }
    pub fn azure_devops_org(&self, org: &str) -> ResourceId {
        self.devops().child("azureDevOpsOrgs", org)
    }
    pub fn azure_devops_project(&self, org: &str, project: &str) -> ResourceId {
        self.azure_devops_org(org).child("projects", project)
    }
    pub fn azure_devops_repo(&self, org: &str, project: &str, repo: &str) -> ResourceId {
        self.azure_devops_project(org, project).child("repos", repo)
    }
    pub fn github_owner(&self, owner: &str) -> ResourceId {
        self.devops().child("gitHubOwners", owner)
    }
    pub fn github_repo(&self, owner: &str, repo: &str) -> ResourceId {
        self.github_owner(owner).child("repos", repo)
    }
    pub fn gitlab_group(&self, fq_name: &str) -> ResourceId {
        self.devops().child("gitLabGroups", fq_name)
    }
    pub fn gitlab_project(&self, group_fq_name: &str, project: &str) -> ResourceId {
        self.gitlab_group(group_fq_name).child("projects", project)
    }

    /// The path segments, decoded, for building a URL with `path_segments_mut` (which encodes
    /// each one).
    pub fn path_segments(&self) -> Vec<&str> {
        let mut v = vec![
            "subscriptions",
            self.subscription.as_str(),
            "resourceGroups",
            self.resource_group.as_str(),
            "providers",
            self.namespace.as_str(),
        ];
        for (t, n) in &self.segments {
            v.push(t);
            v.push(n);
        }
        v
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in self.path_segments() {
            write!(f, "/{s}")?;
        }
        Ok(())
    }
}

impl PartialEq for ResourceId {
    fn eq(&self, other: &Self) -> bool {
        self.to_string().eq_ignore_ascii_case(&other.to_string())
    }
}
impl Eq for ResourceId {}

impl std::hash::Hash for ResourceId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_string().to_ascii_lowercase().hash(state)
    }
}

impl std::str::FromStr for ResourceId {
    type Err = ResourceIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceId::parse(s)
    }
}

impl serde::Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ResourceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ResourceId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SC: &str = "/subscriptions/0806e1cd-cfda-4ff8-b99c-2b0af42cffd3/resourceGroups/myRg/providers/Microsoft.Security/securityConnectors/mySecurityConnectorName";

    #[test]
    fn parses_and_formats_a_connector_id() {
        let id = ResourceId::parse(SC).unwrap();
        assert_eq!(id.subscription, "0806e1cd-cfda-4ff8-b99c-2b0af42cffd3");
        assert_eq!(id.resource_group, "myRg");
        assert_eq!(id.name(), "mySecurityConnectorName");
        assert_eq!(id.resource_type(), "Microsoft.Security/securityConnectors");
        assert_eq!(id.to_string(), SC);
        assert_eq!(
            id,
            ResourceId::connector(
                "0806e1cd-cfda-4ff8-b99c-2b0af42cffd3",
                "myRg",
                "mySecurityConnectorName"
            )
        );
    }

    #[test]
    fn compares_case_insensitively() {
        let a = ResourceId::parse(SC).unwrap();
        let b = ResourceId::parse(&SC.to_lowercase()).unwrap();
        assert_eq!(a, b);
        let mut set = std::collections::HashSet::new();
        set.insert(a);
        assert!(set.contains(&b));
    }

    #[test]
    fn builds_devops_child_paths() {
        let id = ResourceId::parse(SC).unwrap();
        assert_eq!(
            id.azure_devops_repo("o", "p", "r").to_string(),
            format!("{SC}/devops/default/azureDevOpsOrgs/o/projects/p/repos/r")
        );
        let g = id.gitlab_project("myGitLabGroup$mySubGroup", "proj");
        assert_eq!(
            g.resource_type(),
            "Microsoft.Security/securityConnectors/devops/gitLabGroups/projects"
        );
        assert_eq!(g.connector_id(), id);
        let back = ResourceId::parse(&g.to_string()).unwrap();
        assert_eq!(back.segments[2].1, "myGitLabGroup$mySubGroup");
    }

    #[test]
    fn rejects_what_is_not_an_id() {
        for bad in [
            "",
            "subscriptions/x",
            "/subscriptions/x/resourceGroups/y",
            "/subscriptions/x/foo/y/providers/M/t/n",
            "/subscriptions/x/resourceGroups/y/providers/M/t",
            "/subscriptions//resourceGroups/y/providers/M/t/n",
        ] {
            assert!(ResourceId::parse(bad).is_err(), "{bad}");
        }
    }
}
