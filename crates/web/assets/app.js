// The only script (pages work without it): print buttons, and the follow-up form's safety net.
// A header box data-check-all="NAME" ticks or clears every box of that name in its form.
document.querySelectorAll('[data-check-all]').forEach((all) => all.addEventListener('change', () => {
  all.form?.querySelectorAll(`input[type=checkbox][name="${all.dataset.checkAll}"]`).forEach((b) => { b.checked = all.checked; });
}));

// A button's data-print="a5" prints the document on A5 paper (app.css's named page).
document.querySelectorAll('[data-print]').forEach((b) => b.addEventListener('click', () => {
  document.documentElement.dataset.paper = b.dataset.print || 'a4';
  window.print();
}));

// A follow-up form keeps what was typed, with its submission key, in this tab's session storage
// until the server confirms it: if the connection drops, going back (or reloading) brings the
// same entries and the same key, and sending again stores the follow-up once.
const fast = document.querySelector('form.fast');
if (fast) {
  const slot = `huimin-followup-${fast.elements.contract.value}`;
  const pending = JSON.parse(sessionStorage.getItem(slot) || 'null');
  if (pending) {
    for (const [name, value] of Object.entries(pending)) {
      if (fast.elements[name]) fast.elements[name].value = value;
    }
    fast.insertAdjacentHTML('afterbegin', '<p class="alert">上次填写的随访尚未确认保存，已恢复，请核对后再次保存。</p>');
  }
  fast.addEventListener('submit', () => {
    const data = {};
    new FormData(fast).forEach((value, name) => { if (name !== '_csrf') data[name] = value; });
    sessionStorage.setItem(slot, JSON.stringify(data));
  });
}
const saved = new URLSearchParams(location.search).get('contract');
if (saved && new URLSearchParams(location.search).has('saved')) sessionStorage.removeItem(`huimin-followup-${saved}`);

// The settlement form keeps what was typed in this tab's session storage until the stay is
// settled: after an expired session (signing in brings the clerk back to the form) or a lost
// connection, the form comes back filled. The bill of the stay forgets it.
const stay = document.querySelector('form[data-keep]');
if (stay) {
  const slot = `huimin-${stay.dataset.keep}`;
  const kept = JSON.parse(sessionStorage.getItem(slot) || 'null');
  if (kept && !('filled' in stay.dataset)) {
    for (const [name, value] of Object.entries(kept)) {
      if (stay.elements[name] && stay.elements[name].type !== 'hidden') stay.elements[name].value = value;
    }
    stay.insertAdjacentHTML('afterbegin', '<p class="alert">上次填写的内容已恢复，请核对后继续。</p>');
  }
  stay.addEventListener('submit', () => {
    const data = {};
    new FormData(stay).forEach((value, name) => { if (name !== '_csrf') data[name] = value; });
    sessionStorage.setItem(slot, JSON.stringify(data));
  });
}
document.querySelectorAll('[data-forget]').forEach((el) => sessionStorage.removeItem(`huimin-${el.dataset.forget}`));

// A page that answered a form (the settlement preview) stands in the tab's history under an
// address that can be opened again, so that Back and reload never resend the form.
const replace = document.querySelector('[data-replace-url]');
if (replace) history.replaceState(null, '', replace.dataset.replaceUrl);
