// The API key both catalog pages read with: from `#key=<key>` once (then kept in
// localStorage and taken out of the address bar), or typed into the form a page shows when
// none is known. Loaded before catalog.js and console.js, which share these names.
const KEY_STORE = 'reelflow.apiKey';

function apiKey() {
  const given = location.hash.match(/^#key=(.+)$/);
  if (given) {
    localStorage.setItem(KEY_STORE, decodeURIComponent(given[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return localStorage.getItem(KEY_STORE);
}

class NeedKey extends Error {}
