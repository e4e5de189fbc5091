//! Page routes. Each page is a shell rendered with the signed-in account; its script fills
//! it from the same JSON API everything else uses, with the same session.

use axum::{
    extract::{OriginalUri, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
    Router,
};
use minijinja::{context, Environment};
use std::sync::LazyLock;
use tower_sessions::Session;

use crate::{
    accounts::{self, Role},
    http::{error::ApiError, guard, AppState},
};

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, src) in [
        (
            "web/base.html",
            include_str!("../../../templates/web/base.html"),
        ),
        (
            "web/setup.html",
            include_str!("../../../templates/web/setup.html"),
        ),
        (
            "web/sign_in.html",
            include_str!("../../../templates/web/sign_in.html"),
        ),
        (
            "web/vhosts.html",
            include_str!("../../../templates/web/vhosts.html"),
        ),
        (
            "web/vhost_form.html",
            include_str!("../../../templates/web/vhost_form.html"),
        ),
        (
            "web/logs.html",
            include_str!("../../../templates/web/logs.html"),
        ),
        (
            "web/traffic.html",
            include_str!("../../../templates/web/traffic.html"),
        ),
        (
            "web/changelog.html",
            include_str!("../../../templates/web/changelog.html"),
        ),
        (
            "web/users.html",
            include_str!("../../../templates/web/users.html"),
        ),
        (
            "web/tokens.html",
            include_str!("../../../templates/web/tokens.html"),
        ),
        (
            "web/webhooks.html",
            include_str!("../../../templates/web/webhooks.html"),
        ),
        (
            "web/account.html",
            include_str!("../../../templates/web/account.html"),
        ),
        (
            "web/reference.html",
            include_str!("../../../templates/web/reference.html"),
        ),
    ] {
        env.add_template(name, src)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    env
});

pub fn router() -> Router<AppState> {
    let mut router = Router::new()
        .route("/", get(home))
        .route("/setup", get(setup))
        .route("/sign-in", get(sign_in));
    for (name, needs) in [
        ("vhosts", Role::Viewer),
        ("logs", Role::Viewer),
        ("traffic", Role::Viewer),
        ("changelog", Role::Viewer),
        ("users", Role::Admin),
        ("webhooks", Role::Admin),
        ("tokens", Role::Viewer),
        ("account", Role::Viewer),
    ] {
        let handler = move |s, sess, uri| page(s, sess, uri, name, needs);
        router = router.route(&format!("/{name}"), get(handler));
    }
    router
}

pub(super) fn render(name: &str, ctx: minijinja::Value) -> Result<Response, ApiError> {
    let tmpl = TEMPLATES.get_template(name).map_err(ApiError::internal)?;
    Ok(Html(tmpl.render(ctx).map_err(ApiError::internal)?).into_response())
}

async fn home(State(state): State<AppState>, session: Session) -> Result<Response, ApiError> {
    if !accounts::any_exist(&state.db).await? {
        return Ok(Redirect::to("/setup").into_response());
    }
    match guard::session_user(&state, &session).await? {
        Some(_) => Ok(Redirect::to("/vhosts").into_response()),
        None => Ok(Redirect::to("/sign-in").into_response()),
    }
}

async fn setup(State(state): State<AppState>) -> Result<Response, ApiError> {
    if accounts::any_exist(&state.db).await? {
        return Ok(Redirect::to("/sign-in").into_response());
    }
    render(
        "web/setup.html",
        context! { title => "Create the admin account" },
    )
}

async fn sign_in(State(state): State<AppState>) -> Result<Response, ApiError> {
    if !accounts::any_exist(&state.db).await? {
        return Ok(Redirect::to("/setup").into_response());
    }
    render(
        "web/sign_in.html",
        context! { title => "Sign in", sso => state.sso.is_some() },
    )
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    OriginalUri(uri): OriginalUri,
    name: &'static str,
    needs: Role,
) -> Result<Response, ApiError> {
    let Some(user) = guard::session_user(&state, &session).await? else {
        let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let to = format!("/sign-in?next={}", super::urlencode(next));
        return Ok(Redirect::to(&to).into_response());
    };
    if user.role < needs {
        let body = render(
            "web/base.html",
            context! { title => "Not allowed", user, page => "forbidden" },
        )?;
        return Ok((StatusCode::FORBIDDEN, body).into_response());
    }
    render(
        &format!("web/{name}.html"),
        context! {
            user,
            page => name,
            proxy => state.applier.proxy().kind(),
            client_ip => state.config.log_client_ip.as_str(),
        },
    )
}
