//! Failures answered with a plain page: a clear sentence in Japanese and
//! English, the right status, and never a stack trace or resident data.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    #[error("request body too large")]
    TooLarge,
    #[error("unsupported content type")]
    UnsupportedMediaType,
    #[error("malformed request")]
    BadRequest,
    #[error("internal error")]
    Internal,
    #[error("service unavailable")]
    Unavailable,
    #[error("forbidden")]
    Forbidden,
    #[error("the request took too long to arrive")]
    TimedOut,
    #[error("form expired (CSRF token missing or wrong)")]
    FormExpired,
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            PageError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PageError::BadRequest => StatusCode::BAD_REQUEST,
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            PageError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Forbidden | PageError::FormExpired => StatusCode::FORBIDDEN,
            PageError::TimedOut => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn sentences(&self) -> (&'static str, &'static str) {
        match self {
            PageError::NotFound => {
                ("お探しのページは見つかりませんでした。", "The page you are looking for was not found.")
            }
            PageError::TooLarge => (
                "送信された内容が大きすぎます。入力内容を短くしてもう一度お試しください。",
                "What you sent is too large. Please shorten it and try again.",
            ),
            PageError::UnsupportedMediaType | PageError::BadRequest => (
                "送信された内容を読み取れませんでした。ページを開き直してもう一度お試しください。",
                "We could not read what was sent. Please reopen the page and try again.",
            ),
            PageError::Internal => (
                "申し訳ありません。システムで問題が発生しました。時間をおいてもう一度お試しください。",
                "Sorry, something went wrong on our side. Please try again later.",
            ),
            PageError::Forbidden => {
                ("このページを開く権限がありません。", "You do not have permission to open this page.")
            }
            PageError::TimedOut => (
                "送信に時間がかかりすぎたため、受け付けられませんでした。通信状態をご確認のうえ、もう一度お試しください。",
                "Sending took too long and was not accepted. Please check your connection and try again.",
            ),
            PageError::FormExpired => (
                "フォームの有効期限が切れました。ページを開き直してもう一度お試しください。",
                "This form has expired. Please reload the page and try again.",
            ),
            PageError::Unavailable => (
                "ただいま受け付けられません。送信された内容は保存されていませんので、少し時間をおいてから、もう一度お試しください。",
                "We cannot accept this right now. Nothing was saved; please try again in a moment.",
            ),
        }
    }

    /// A small static page in both languages, used where no template is at
    /// hand (and so cheap enough for rejections).
    pub fn into_plain_response(self) -> Response {
        let (ja, en) = self.sentences();
        let code = self.status();
        let body = format!(
            "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{code} | madoguchi</title><link rel=\"stylesheet\" href=\"/assets/style.css\"></head>\
             <body><main class=\"page\"><h1>{ja}</h1><p lang=\"en\">{en}</p>\
             <p><a href=\"/\">トップページへ / Home</a></p></main></body></html>",
            code = code.as_u16()
        );
        let mut response = (code, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
        if matches!(self, PageError::Unavailable) {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
        }
        response
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if matches!(self, PageError::Internal) {
            tracing::error!("internal error answered with 500");
        }
        self.into_plain_response()
    }
}

impl From<store::StoreError> for PageError {
    fn from(err: store::StoreError) -> Self {
        // Store errors never carry resident data (it is sealed before it
        // reaches the store), so they may be logged.
        tracing::error!(error = %err, "store failure");
        match err {
            // Nothing was acknowledged: the resident is told to try again
            // shortly (their answers are still in the page).
            store::StoreError::VaultUnavailable(_) | store::StoreError::Unavailable(_) => PageError::Unavailable,
            _ => PageError::Internal,
        }
    }
}
