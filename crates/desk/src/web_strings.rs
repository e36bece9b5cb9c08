//! The fixed words of the desk's pages, in Japanese and English.

pub(crate) const STRINGS: &[(&str, &str, &str)] = &[
    ("desk", "まどぐち 事務処理（デスク）", "Madoguchi Desk"),
    ("skip_to_main", "本文へ移動", "Skip to main content"),
    ("inbox", "受信箱", "Inbox"),
    ("sync_now", "今すぐ同期", "Sync now"),
    ("logout", "サインアウト", "Sign out"),
    ("other_lang", "English", "日本語"),
    ("other_lang_tag", "en", "ja"),
    ("login_heading", "職員サインイン", "Staff sign-in"),
    ("login_id", "ログインID", "Login ID"),
    ("login_id_hint", "メールアドレスではありません。", "Not an e-mail address."),
    ("password", "パスワード", "Password"),
    ("password_again", "パスワード（確認）", "Password again"),
    ("password_rule", "12文字以上で、ログインIDを含まないもの", "At least 12 characters, not containing your login ID"),
    ("totp", "認証アプリの6桁のコード", "6-digit code from your authenticator app"),
    ("sign_in", "サインイン", "Sign in"),
    ("login_failed", "サインインできませんでした。ログインID、パスワード、コードをご確認ください。続けて失敗するとしばらくロックされます。", "Sign-in failed. Check your login ID, password and code. Repeated failures lock the account for a while."),
    ("not_enrolled_hint", "初めての方は、管理者から受け取った登録コードで登録してください。", "First time? Enrol with the code your administrator gave you."),
    ("enrol_link", "初回登録", "First-time enrolment"),
    ("enrolled", "登録が完了しました。サインインしてください。", "Enrolment complete. Please sign in."),
    ("enrol_heading", "初回登録", "Enrolment"),
    ("enrol_code", "登録コード", "Enrolment code"),
    ("next", "次へ", "Next"),
    ("totp_heading", "認証アプリの登録", "Register your authenticator app"),
    ("totp_lead", "認証アプリ（Google Authenticator、Microsoft Authenticator など）で二次元コードを読み取るか、下のキーを入力し、表示された6桁のコードを入力してください。", "Scan the QR code with your authenticator app (or type the key below), then enter the 6-digit code it shows."),
    ("totp_key", "手入力用のキー", "Key for manual entry"),
    ("finish", "登録する", "Finish enrolment"),
    ("password_mismatch", "パスワードが一致しません。", "The passwords differ."),
    ("password_too_short", "パスワードは12文字以上にしてください。", "Use at least 12 characters."),
    ("password_contains_login", "パスワードにログインIDを含めないでください。", "The password must not contain your login ID."),
    ("enrolment_code_invalid", "登録コードが正しくないか、有効期限が切れています。", "The enrolment code is wrong or has expired."),
    ("totp_invalid", "コードが正しくありません。最初からやり直してください。", "The code was not accepted. Please start again."),
    ("filters", "絞り込み", "Filter"),
    ("form", "様式", "Form"),
    ("all", "すべて", "All"),
    ("status", "状況", "Status"),
    ("received_from", "受付日（から）", "Received from"),
    ("received_until", "受付日（まで）", "Received until"),
    ("mine", "自分の担当のみ", "Only mine"),
    ("apply", "絞り込む", "Apply"),
    ("receipt", "到達番号", "Receipt number"),
    ("received_at", "受付日時", "Received at"),
    ("assigned_to", "担当", "Assigned to"),
    ("nobody", "（未割当）", "(unassigned)"),
    ("no_records", "該当する申請はありません。", "No applications match."),
    ("next_page", "次のページ", "Next page"),
    ("prev_page", "前のページ", "Previous page"),
    ("export", "CSV出力", "Export CSV"),
    ("export_utf8", "CSV（UTF-8）", "CSV (UTF-8)"),
    ("export_sjis", "CSV（Shift_JIS・Excel向け）", "CSV (Shift_JIS, for Excel)"),
    ("records", "件", "records"),
    ("answers", "申請内容", "Answers"),
    ("not_answered", "（未入力）", "(not answered)"),
    ("change_status", "状況の変更", "Change status"),
    ("new_status", "新しい状況", "New status"),
    ("message_to_resident", "申請者へのお知らせ（差戻しの場合は必須。申請者の状況確認ページに表示されます）", "Message to the applicant (required when returning; shown on their status page)"),
    ("update", "変更する", "Update"),
    ("final_status", "この申請の処理は終了しています。", "This application is closed."),
    ("history", "履歴", "History"),
    ("comments", "内部メモ（申請者には送られません）", "Internal notes (never sent to the applicant)"),
    ("add_comment", "メモを追加", "Add note"),
    ("assign", "担当を設定", "Assign"),
    ("record_hash", "封緘記録のハッシュ値", "Hash of the sealed record"),
    ("back_to_inbox", "受信箱へ戻る", "Back to the inbox"),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_string_exists_in_both_languages_and_keys_are_unique() {
        let mut keys = std::collections::BTreeSet::new();
        for (key, ja, en) in super::STRINGS {
            assert!(keys.insert(key), "duplicate key {key}");
            assert!(!ja.is_empty() && !en.is_empty(), "{key}");
        }
    }
}
