// The only script (pages work without it): print buttons, and the follow-up form's safety net.
document.querySelectorAll('[data-print]').forEach((b) => b.addEventListener('click', () => window.print()));

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
