//! The fixed words of the rooms' pages (residents' side), in Japanese and
//! English. A table of its own beside `ui.rs`, so the rooms' words are
//! found in one place; templates see it as `r` (and `t` for the layout).

use std::collections::BTreeMap;

use forms::Lang;

const STRINGS: &[(&str, &str, &str)] = &[
    ("rooms_heading", "電子会議室・パブリックコメント", "Discussion rooms and public comment"),
    ("rooms_lead", "市政についてのご意見をお寄せください。投稿は公開されます。個人が特定される情報（住所・電話番号・メールアドレスなど）は書かないでください。", "Share your views on the city's affairs. Posts are public: please do not write anything that identifies a person (addresses, phone numbers, e-mail addresses and so on)."),
    ("no_rooms", "現在、開設されている会議室はありません。", "No rooms are open at the moment."),
    ("kind_discussion", "電子会議室", "Discussion room"),
    ("kind_public_comment", "パブリックコメント", "Public comment"),
    ("moderation_before", "投稿は管理者の承認後に掲載されます（事前承認）。", "Posts appear once a moderator approves them."),
    ("moderation_after", "投稿はすぐに掲載されます。利用規約に反する投稿は管理者が非表示にします（事後削除）。", "Posts appear at once; moderators hide posts that break the rules of use."),
    ("period", "受付期間", "Open for comments"),
    ("period_until", "〜", " until "),
    ("state_open", "受付中", "Open"),
    ("state_not_yet", "受付開始前です。", "Not open for comments yet."),
    ("state_closed", "受付は終了しました。", "Comments are closed."),
    ("signed_in_as", "ログイン中：", "Signed in as "),
    ("sign_out", "ログアウト", "Sign out"),
    ("sign_in", "ログイン", "Sign in"),
    ("register", "参加登録", "Register"),
    ("register_link", "参加登録（初めての方）", "Register (first time)"),
    ("sign_in_link", "登録済みの方はログイン", "Already registered? Sign in"),
    ("sign_in_to_post", "投稿・返信・通報をするには、参加登録のうえログインしてください。", "To post, reply or report, please register and sign in."),
    ("back_to_rooms", "会議室の一覧へ戻る", "Back to the list of rooms"),
    ("register_heading", "参加登録", "Register to take part"),
    ("register_lead", "メールアドレスは登録しません。ログインIDとパスワードは忘れないよう控えてください（再発行はできません）。", "No e-mail address is asked for. Please keep your login ID and password safe: they cannot be sent to you again."),
    ("rules_heading", "利用規約", "Rules of use"),
    ("rules_version", "版", "Version"),
    ("rules_accept", "利用規約に同意します", "I accept the rules of use"),
    ("rules_not_accepted", "利用規約を読み、同意する場合はチェックを入れてください。", "Please read the rules of use and tick the box to accept them."),
    ("rules_changed", "利用規約が更新されました。新しい利用規約をご確認のうえ、もう一度同意してください。", "The rules of use have changed. Please read the new rules and accept them again."),
    ("nickname", "表示名（ニックネーム）", "Public nickname"),
    ("nickname_hint", "投稿とともに公開されます。1〜20文字。本名やメールアドレスは使わないでください。", "Shown with your posts. 1 to 20 characters. Please do not use your real name or an e-mail address."),
    ("nickname_missing", "表示名を入力してください。", "Please enter a nickname."),
    ("nickname_too_long", "表示名は20文字以内にしてください。", "Use at most 20 characters for the nickname."),
    ("nickname_email", "表示名にメールアドレスは使えません。", "The nickname cannot be an e-mail address."),
    ("nickname_control", "表示名に使えない文字が含まれています。", "The nickname contains characters that cannot be used."),
    ("nickname_reserved", "この表示名は使えません。", "This nickname cannot be used."),
    ("login_id", "ログインID", "Login ID"),
    ("login_id_hint", "メールアドレスではありません。英小文字で始まる3〜32文字（英小文字・数字・「.」「_」「-」）です。", "Not an e-mail address: 3–32 lowercase letters, digits, '.', '_' or '-', starting with a letter."),
    ("login_id_email", "ログインIDにメールアドレスは使えません。", "The login ID cannot be an e-mail address."),
    ("login_id_invalid", "ログインIDは英小文字で始まる3〜32文字（英小文字・数字・「.」「_」「-」）にしてください。", "Use 3–32 lowercase letters, digits, '.', '_' or '-', starting with a letter."),
    ("login_id_taken", "このログインIDは既に使われています。別のものにしてください。", "This login ID is taken. Please choose another."),
    ("password", "パスワード", "Password"),
    ("password_again", "パスワード（確認）", "Password again"),
    ("password_hint", "12文字以上。ログインIDを含めず、よく使われるものは避けてください。", "At least 12 characters, not containing your login ID, and not a common password."),
    ("password_mismatch", "2つのパスワードが一致しません。", "The two passwords do not match."),
    ("password_too_short", "パスワードは12文字以上にしてください。", "Use at least 12 characters."),
    ("password_contains_login", "パスワードにログインIDを含めないでください。", "The password must not contain your login ID."),
    ("password_too_common", "よく使われるパスワードは使えません。", "This password is too common."),
    ("minor", "18歳未満です", "I am under 18"),
    ("minor_hint", "18歳未満の方の投稿は、管理者の確認後に掲載し、表示名は公開しません（市の設定による）。", "Posts by people under 18 appear after a moderator checks them, and their nickname is not shown (as the city has set)."),
    ("register_button", "同意して登録する", "Accept and register"),
    ("errors_heading", "入力内容に誤りがあります。各項目のメッセージをご確認ください。", "Some answers need attention. Please see the messages by each item."),
    ("error_prefix", "エラー：", "Error: "),
    ("too_many_registrations", "このネットワークからの登録が短時間に集中しているため、受け付けられませんでした。しばらくしてからもう一度お試しください。", "Too many registrations came from your network in a short time. Please try again later."),
    ("login_heading", "ログイン", "Sign in"),
    ("login_failed", "ログインIDまたはパスワードが正しくありません。", "The login ID or password is not correct."),
    ("login_wait", "失敗が続いたため、しばらく待ってからやり直してください。待ち時間（秒）：", "After several failures, please wait before trying again. Seconds to wait: "),
    ("login_locked", "失敗が続いたため、このアカウントはロックされました。市の担当課へお問い合わせください。", "After too many failures this account is locked. Please contact the city office."),
    ("withheld", "参加者（非公開）", "Participant (name withheld)"),
    ("pending", "承認待ち", "Awaiting approval"),
    ("pending_note", "管理者が確認した後に掲載されます。掲載されるまで、ほかの方には表示されません。", "It will appear once a moderator has checked it; until then only you can see it."),
    ("hidden_notice", "このご意見は管理者により非表示にされました（理由：{reason}）", "This post was hidden by a moderator (reason: {reason})"),
    ("note_heading", "市からの注記", "Note from the city"),
    ("posted_at", "投稿日時", "Posted"),
    ("post_number", "番号", "No."),
    ("no_posts", "まだ投稿はありません。", "No posts yet."),
    ("replies", "返信", "Replies"),
    ("reply", "返信する", "Reply"),
    ("reply_to", "への返信", ": reply"),
    ("post_heading", "投稿する", "Post"),
    ("opinion_heading", "ご意見を提出する", "Send your opinion"),
    ("opinion_once", "お一人1件までご意見を提出できます。提出後の修正はできません。", "Each person may send one opinion; it cannot be changed afterwards."),
    ("opinion_given", "ご意見は受付済みです（お一人1件）。ご協力ありがとうございました。", "Your opinion has been received (one per person). Thank you."),
    ("one_each", "このパブリックコメントには、既にご意見を提出いただいています（お一人1件）。", "You have already sent an opinion on this public comment (one per person)."),
    ("body", "本文", "Text"),
    ("body_missing", "本文を入力してください。", "Please write something."),
    ("body_too_long", "本文は4000文字以内にしてください。", "Use at most 4000 characters."),
    ("markdown_help", "書式：空行で段落、*斜体*、**太字**、~~取り消し線~~、「- 」で箇条書き、「> 」で引用、`コード`、[文字](https://…) でリンク（http・https のみ）。HTMLタグはそのまま文字として表示され、画像は表示されません。", "Formatting: a blank line starts a paragraph; *italic*, **bold**, ~~strike~~, “- ” for lists, “> ” for quotes, `code`, and [text](https://…) for links (http and https only). HTML tags are shown as typed; pictures are not shown."),
    ("send", "投稿する", "Post"),
    ("send_opinion", "ご意見を提出する", "Send opinion"),
    ("posted", "投稿しました。", "Your post has been published."),
    ("posted_pending", "投稿を受け付けました。管理者の確認後に掲載されます。", "Your post has been received and will appear once a moderator has checked it."),
    ("too_many_posts", "短時間に多くの投稿があったため、受け付けられませんでした。しばらく時間をおいてからもう一度お試しください。", "You have posted a lot in a short time, so this post was not accepted. Please wait a while and try again."),
    ("too_many_from_network", "このネットワークからの投稿が短時間に集中しているため、受け付けられませんでした。しばらく時間をおいてからもう一度お試しください。", "Too many posts came from your network in a short time, so this post was not accepted. Please try again later."),
    ("closed_now", "受付期間外のため、投稿できませんでした。", "This was not accepted: the room is not open for comments."),
    ("reply_gone", "返信先の投稿が表示されていないため、返信できませんでした。", "The post you replied to is not shown, so the reply was not accepted."),
    ("report", "通報する", "Report"),
    ("report_heading", "この投稿を管理者に通報する", "Report this post to the moderators"),
    ("report_reason", "理由", "Reason"),
    ("reason_abuse", "誹謗中傷", "Abuse or defamation"),
    ("reason_personal", "個人情報", "Personal information"),
    ("reason_spam", "宣伝・スパム", "Advertising or spam"),
    ("reason_other", "その他", "Other"),
    ("report_detail", "詳しい内容（任意。ご自身や他の方のお名前・連絡先は書かないでください）", "Details (optional; please do not write anyone's name or contact details)"),
    ("report_send", "通報を送る", "Send report"),
    ("reported", "通報を受け付けました。管理者が確認します。", "Thank you: the moderators will look at your report."),
    ("already_reported", "この投稿は既に通報済みです。", "You have already reported this post."),
    ("report_reason_missing", "通報の理由を選んでください。", "Please choose a reason."),
    ("report_detail_too_long", "詳しい内容は1000文字以内にしてください。", "Use at most 1000 characters for the details."),
    ("report_link", "結果の公表（意見の概要と市の考え方）", "Published results (summary and the city's answers)"),
    ("closing_heading", "パブリックコメントの結果", "Results of the public comment"),
    ("closing_counts", "件数", "Counts"),
    ("received", "提出されたご意見", "Opinions received"),
    ("published_count", "公開したご意見", "Opinions published"),
    ("hidden_count", "非公開としたご意見", "Opinions not published"),
    ("summary", "概要", "Summary"),
    ("opinions", "ご意見と市の考え方", "Opinions and the city's answers"),
    ("opinion", "ご意見", "Opinion"),
    ("answer", "市の考え方", "The city's answer"),
    ("received_at", "受付日時", "Received"),
    ("csv_download", "CSV形式でダウンロード（UTF-8）", "Download as CSV (UTF-8)"),
    ("room_link", "会議室のページへ", "Back to the room"),
];

pub(crate) fn strings(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    STRINGS.iter().map(|(key, ja, en)| (*key, if lang == Lang::En { *en } else { *ja })).collect()
}

/// One string, for messages made in code.
pub(crate) fn get(lang: Lang, key: &str) -> &'static str {
    STRINGS.iter().find(|(k, _, _)| *k == key).map(|(_, ja, en)| if lang == Lang::En { *en } else { *ja }).unwrap_or("")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_string_exists_in_both_languages_and_keys_are_unique() {
        let mut keys = std::collections::BTreeSet::new();
        for (key, ja, en) in super::STRINGS {
            assert!(keys.insert(key), "duplicate key {key}");
            assert!(!ja.is_empty() && !en.is_empty(), "{key} is missing a language");
        }
    }
}
