import { useEffect, useRef, useState } from 'preact/hooks';
import { oidcLoginUrl, type SignInMethod } from '../session.ts';

interface Props {
  /** The ways this bridge offers (GET /api/v1/session's sign_in). */
  methods: SignInMethod[];
  message: string | null;
  /** The page to come back to after an OpenID Connect sign-in. */
  returnTo: string;
  /** Signs in with a token; resolves with what went wrong, or null. */
  onToken: (token: string) => Promise<string | null>;
}

/**
 * Signing in (docs/security.md, "Signing in"): with the organisation's identity provider when
 * the bridge has OpenID Connect, and with a token of its auth file, which the bridge exchanges
 * for a session cookie (the page does not keep the token).
 */
export function SignIn({ methods, message, returnTo, onToken }: Props) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const withToken = methods.includes('token');
  const withOidc = methods.includes('oidc');
  useEffect(() => input.current?.focus(), []);

  const shown = error ?? message;
  return (
    <section class="sign-in card" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      <p>Reading the audit trail on this bridge needs a sign-in: you will see the tenants, and open what, your role allows.</p>
      {shown && (
        <p class={`notice ${error || !/^Signed out/.test(shown) ? 'bad' : 'info'}`} role="alert">
          {shown}
        </p>
      )}
      {withOidc && (
        <p>
          <a class="button primary" href={oidcLoginUrl(returnTo)}>
            Sign in with your organisation
          </a>
        </p>
      )}
      {withToken && (
        <form
          onSubmit={async (ev) => {
            ev.preventDefault();
            if (!token.trim()) return;
            setBusy(true);
            setError(null);
            try {
              const problem = await onToken(token.trim());
              if (problem) setError(problem);
              else setToken('');
            } finally {
              setBusy(false);
            }
          }}
        >
          {withOidc && <p class="muted or">or with a token of the bridge's auth file:</p>}
          <label for="token">Access token</label>
          <input
            id="token"
            ref={input}
            name="token"
            type="password"
            autocomplete="off"
            spellcheck={false}
            required
            aria-describedby="token-help"
            value={token}
            onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          />
          <p id="token-help" class="help">
            A token with the <code>reader</code> role (<code>content_reader</code> to open sealed content), from the operator. The bridge exchanges it for a session of
            this browser; the page does not keep it.
          </p>
          <button type="submit" class={withOidc ? '' : 'primary'} disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      )}
      {!withToken && !withOidc && <p>This bridge offers no way to sign in from a browser. Ask its operator.</p>}
    </section>
  );
}
