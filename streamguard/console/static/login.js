// Progressive enhancement: without JS the form still POSTs (never GET), so the token stays out of URLs.
const form = document.querySelector('[data-testid="login-form"]');
const errorLine = document.querySelector('[data-testid="login-error"]');
const submit = document.querySelector('[data-testid="login-submit"]');

function showError(message) {
  errorLine.textContent = message;
  errorLine.hidden = false;
}

// The no-JS fallback redirects back here with ?error=name|token.
const FALLBACK_ERRORS = { name: 'enter a valid name', token: 'wrong token' };
const fallbackError = new URLSearchParams(location.search).get('error');
if (fallbackError) showError(FALLBACK_ERRORS[fallbackError] ?? 'login failed');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  errorLine.hidden = true;
  submit.disabled = true;
  const data = new FormData(form);
  try {
    const resp = await fetch('/console/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        operator: String(data.get('operator') ?? '').trim(),
        token: String(data.get('token') ?? ''),
      }),
    });
    if (resp.status === 204) {
      location.assign('/');
      return;
    }
    if (resp.status === 401) {
      let message = 'invalid credentials';
      try {
        const body = await resp.json();
        if (body && typeof body.error === 'string' && body.error) message = body.error;
      } catch { /* non-JSON body: keep the generic message */ }
      showError(message);
    } else {
      showError(`login failed (HTTP ${resp.status})`);
    }
  } catch {
    showError('login failed (network error)');
  } finally {
    submit.disabled = false;
  }
});
