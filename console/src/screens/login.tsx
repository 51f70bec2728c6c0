// Log in with a token's secret (sendense-run token add NAME --role ROLE): the API sets an HttpOnly
// session cookie; the secret is not kept by the console.

import { useState } from 'preact/hooks';
import { ApiRefusal, call, useCsrf } from '../api.js';
import type { Login } from '../api-types.js';

export function LoginScreen(props: { readonly onLoggedIn: () => Promise<void> }) {
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const answer = await call<Login>('login', { body: { token: secret.trim() } });
      useCsrf(answer.csrf);
      setSecret('');
      await props.onLoggedIn();
    } catch (failure) {
      setError(failure instanceof ApiRefusal ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="login">
      <h1>sendense-run console</h1>
      <form onSubmit={(event) => void submit(event)}>
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="current-password"
          required
          value={secret}
          onInput={(event) => setSecret((event.target as HTMLInputElement).value)}
          aria-describedby="token-help"
        />
        <p id="token-help" class="muted">
          The secret <code>sendense-run token add NAME --role ROLE</code> printed.
        </p>
        {error && (
          <p class="refusal" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Log in
        </button>
      </form>
    </main>
  );
}
