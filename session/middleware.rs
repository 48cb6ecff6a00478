//! `SessionMiddleware`: the actix `Transform` and the per-request service.

use std::{
    fmt,
    future::{ready, Future, Ready},
    pin::Pin,
    rc::Rc,
};

use actix_web::{
    body::{EitherBody, MessageBody},
    dev::{Service, ServiceRequest, ServiceResponse, Transform},
    http::header::{HeaderValue, COOKIE, SET_COOKIE},
    HttpMessage, ResponseError,
};

use crate::{
    builder::SessionMiddlewareBuilder,
    codec::SessionCodec,
    config::{is_secure, Config, SessionSecrets},
    cookie::find_raw_cookie,
    state::{self, RequestContext, Shared, SharedState},
    store::{DynStore, LocalSessionStore},
    trace::Trace,
};
use tracing::Instrument;

/// Session middleware with express-session's semantics.
///
/// ```no_run
/// use std::time::Duration;
/// use actix_web::{web, App, HttpServer};
/// use actix_typed_session::{MemoryStore, Session, SessionData, SessionMiddleware};
///
/// #[derive(SessionData, Default)]
/// struct Visit {
///     views: u32,
/// }
///
/// async fn index(mut session: Session<Visit>) -> String {
///     session.views += 1;
///     format!("views: {}", session.views)
/// }
///
/// #[actix_web::main]
/// async fn main() -> std::io::Result<()> {
///     let store = MemoryStore::default();
///     HttpServer::new(move || {
///         App::new()
///             .wrap(
///                 SessionMiddleware::builder(store.clone(), "keyboard cat")
///                     .cookie_max_age(Some(Duration::from_secs(3600)))
///                     .rolling(true)
///                     .build(),
///             )
///             .route("/", web::get().to(index))
///     })
///     .bind(("127.0.0.1", 8080))?
///     .run()
///     .await
/// }
/// ```
pub struct SessionMiddleware<S: LocalSessionStore> {
    pub(crate) store: S,
    pub(crate) config: Rc<Config>,
}

impl<S: LocalSessionStore> Clone for SessionMiddleware<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            config: Rc::clone(&self.config),
        }
    }
}

impl<S: LocalSessionStore> fmt::Debug for SessionMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionMiddleware")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl<S: LocalSessionStore> SessionMiddleware<S> {
    /// The middleware with every option at its default.
    ///
    /// # Panics
    /// If `secrets` is an empty list or holds an empty secret (see
    /// [`SessionMiddlewareBuilder::try_build`]).
    pub fn new(store: S, secrets: impl Into<SessionSecrets>) -> Self {
        Self::builder(store, secrets).build()
    }

    /// A builder, to set options.
    pub fn builder(store: S, secrets: impl Into<SessionSecrets>) -> SessionMiddlewareBuilder<S> {
        SessionMiddlewareBuilder::new(store, secrets.into())
    }

    /// Reads and writes this middleware's session cookie outside of it.
    pub fn codec(&self) -> SessionCodec {
        SessionCodec::from_parts(self.config.name.clone(), self.config.secrets.clone())
    }
}

impl<Svc, B, S> Transform<Svc, ServiceRequest> for SessionMiddleware<S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: LocalSessionStore,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<Svc>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: Svc) -> Self::Future {
        ready(Ok(SessionService {
            service: Rc::new(service),
            store: Rc::new(self.store.clone()),
            config: Rc::clone(&self.config),
        }))
    }
}

/// The per-worker service of [`SessionMiddleware`].
#[doc(hidden)]
pub struct SessionService<Svc> {
    service: Rc<Svc>,
    store: Rc<dyn DynStore>,
    config: Rc<Config>,
}

impl<Svc, B> Service<ServiceRequest> for SessionService<Svc>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // A session middleware further out already gave the request its session: this one does
        // nothing (express: "should do nothing if req.session exists"), so a request never gets
        // two sessions and two cookies.
        if req.extensions().contains::<SharedState>() {
            let fut = self.service.call(req);
            return Box::pin(async move { Ok(fut.await?.map_into_left_body()) });
        }
        let options = self.config.cookie_options(&req);
        // No session at all outside the cookie's path (a plain prefix test, as express does).
        if !req.path().starts_with(options.path.as_str()) {
            let fut = self.service.call(req);
            return Box::pin(async move { Ok(fut.await?.map_into_left_body()) });
        }

        let cookie = find_raw_cookie(
            req.headers().get_all(COOKIE).map(HeaderValue::as_bytes),
            &self.config.name,
        )
        .and_then(|raw| self.config.verified.verify(&self.config.secrets, raw));
        let trace = Trace::start(
            &self.config.secrets,
            cookie.as_deref().map(|cookie| cookie.id.as_str()),
        );
        let span = trace.span().clone();
        let state: SharedState = Rc::new(Shared::new(RequestContext {
            config: Rc::clone(&self.config),
            store: Rc::clone(&self.store),
            secure_request: is_secure(&req, self.config.proxy),
            options,
            cookie,
            trace,
        }));
        req.extensions_mut().insert(Rc::clone(&state));

        let fut = self.service.call(req);
        let response = async move {
            let mut res = fut.await?;
            // The response leaves only after the store write completed.
            let finished = state::finish(&state, res.request()).await;
            state.ctx.trace.finish();
            match finished {
                Ok(Some(cookie)) => match HeaderValue::try_from(cookie) {
                    Ok(value) => {
                        res.headers_mut().append(SET_COOKIE, value);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "session cookie is not a valid header value")
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    let (req, _) = res.into_parts();
                    let response = e.error_response();
                    return Ok(ServiceResponse::new(req, response).map_into_right_body());
                }
            }
            // Drop the request's handle so the state does not outlive it.
            res.request().extensions_mut().remove::<SharedState>();
            Ok(res.map_into_left_body())
        };
        if span.is_disabled() {
            Box::pin(response)
        } else {
            Box::pin(response.instrument(span))
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{
        dev::{fn_service, Service, ServiceRequest, ServiceResponse, Transform},
        test::TestRequest,
        HttpResponse,
    };

    use super::*;
    use crate::MemoryStore;

    /// The largest block glibc's per-thread cache (`tcache`) hands out: 64 size classes up to
    /// 1,032 bytes. A larger one takes `malloc`'s slow path on every request.
    const THREAD_CACHE_MAX: usize = 1032;

    type Boxed = Pin<Box<dyn Future<Output = Result<ServiceResponse, actix_web::Error>>>>;

    /// The future boxed for every request, with tracing's span (the larger of its two forms), is
    /// served by the allocator's thread cache. Past it, a new visitor cost 750 instructions more
    /// (load/ANALYSIS.md).
    #[actix_web::test]
    async fn the_future_boxed_for_every_request_fits_the_allocators_thread_cache() {
        let _listening = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_writer(std::io::sink)
                .finish(),
        );
        assert!(tracing::span_enabled!(
            target: "actix_typed_session",
            tracing::Level::INFO
        ));
        let middleware = SessionMiddleware::builder(MemoryStore::new(), "keyboard cat").build();
        // An inner service whose future is boxed, as that of actix-web's router is.
        let inner = fn_service(|req: ServiceRequest| -> Boxed {
            Box::pin(async move { Ok(req.into_response(HttpResponse::Ok().finish())) })
        });
        let service = middleware.new_transform(inner).await.unwrap();
        let future = service.call(TestRequest::default().to_srv_request());
        let size = std::mem::size_of_val(&*future);
        assert!(size <= THREAD_CACHE_MAX, "{size} bytes");
        assert!(future.await.unwrap().status().is_success());
    }
}
