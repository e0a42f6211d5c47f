import { useId, useState, type FormEvent } from "react";
import { checkUserId, generateUserId } from "../auth/userId";

export function SignIn({ onSignIn }: { onSignIn: (userId: string) => void }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const inputId = useId();
  const hintId = useId();
  const errorId = useId();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const checked = checkUserId(value);
    if (!checked.ok) {
      setError(checked.message);
      document.getElementById(inputId)?.focus();
      return;
    }
    onSignIn(checked.userId);
  };

  const generate = () => {
    setValue(generateUserId());
    setError(null);
    document.getElementById(inputId)?.focus();
  };

  return (
    <main className="signin" id="main">
      <div className="signin__card">
        <div className="brand brand--large">
          <Logo />
          <span>Report Status</span>
        </div>
        <h1 className="signin__title">Sign in</h1>
        <p className="signin__intro">Follow your reports live, from queued to completed.</p>
        <form className="signin__form" onSubmit={submit} noValidate>
          <label htmlFor={inputId} className="field-label">
            User ID
          </label>
          <input
            id={inputId}
            name="userId"
            className="input input--mono"
            type="text"
            value={value}
            onChange={(event) => {
              setValue(event.target.value);
              if (error) setError(null);
            }}
            placeholder="xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
            autoComplete="off"
            autoCapitalize="off"
            spellCheck={false}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? `${errorId} ${hintId}` : hintId}
          />
          <p id={hintId} className="field-hint">
            A UUID, such as one from <code>uuidgen</code>. New here? Generate one and keep it to come back to your
            reports.
          </p>
          <p id={errorId} className="field-error" role="alert">
            {error}
          </p>
          <div className="signin__actions">
            <button type="submit" className="button button--primary">
              Sign in
            </button>
            <button type="button" className="button" onClick={generate}>
              Generate new ID
            </button>
          </div>
        </form>
      </div>
    </main>
  );
}

export function Logo() {
  return (
    <svg className="logo" width="28" height="28" viewBox="0 0 28 28" aria-hidden="true" focusable="false">
      <rect width="28" height="28" rx="7" fill="#1e3a8a" />
      <path d="M7 18.5c2.2-6 4.4-9 6.6-9s3.4 5 5.4 5 2.6-2 2.6-2" stroke="#fff" strokeWidth="2.4" fill="none" strokeLinecap="round" />
      <circle cx="21.6" cy="12.5" r="2.2" fill="#fbbf24" />
    </svg>
  );
}
