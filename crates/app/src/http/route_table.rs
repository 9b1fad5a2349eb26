//! Which methods each route accepts, read from the OpenAPI document (generated from the same
//! registrations the server serves), so a request with the wrong method gets 405 and `Allow`.

use utoipa::openapi::OpenApi;

#[derive(Debug)]
enum Segment {
    Literal(String),
    Parameter,
}

/// Path templates and their methods.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<Segment>, Vec<String>)>,
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

impl RouteTable {
    /// Every documented path with its methods, upper-case.
    #[must_use]
    pub fn from_openapi(openapi: &OpenApi) -> Self {
        let routes = openapi
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let template = segments(path)
                    .map(|s| {
                        if s.starts_with('{') && s.ends_with('}') {
                            Segment::Parameter
                        } else {
                            Segment::Literal(s.to_owned())
                        }
                    })
                    .collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ]
                .into_iter()
                .filter(|(_, present)| *present)
                .map(|(m, _)| m.to_owned())
                .collect();
                (template, methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods accepted at `path`; empty when no route has that path.
    #[must_use]
    pub fn allowed_methods(&self, path: &str) -> Vec<&str> {
        let wanted: Vec<&str> = segments(path).collect();
        let mut methods: Vec<&str> = self
            .routes
            .iter()
            .filter(|(template, _)| {
                template.len() == wanted.len()
                    && template.iter().zip(&wanted).all(|(t, w)| match t {
                        Segment::Literal(l) => l == w,
                        Segment::Parameter => true,
                    })
            })
            .flat_map(|(_, methods)| methods.iter().map(String::as_str))
            .collect();
        methods.sort_unstable();
        methods.dedup();
        methods
    }
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::OpenApiBuilder;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};

    use super::*;

    #[test]
    fn literal_and_parameter_segments_match() {
        let paths = PathsBuilder::new()
            .path(
                "/agents/{id}",
                PathItem::new(HttpMethod::Get, OperationBuilder::new()),
            )
            .path(
                "/auth/login",
                PathItem::new(HttpMethod::Post, OperationBuilder::new()),
            )
            .build();
        let table = RouteTable::from_openapi(&OpenApiBuilder::new().paths(paths).build());
        assert_eq!(table.allowed_methods("/auth/login"), ["POST"]);
        assert_eq!(table.allowed_methods("/agents/42/"), ["GET"]);
        assert!(table.allowed_methods("/agents").is_empty());
        assert!(table.allowed_methods("/agents/42/flow").is_empty());
    }
}
