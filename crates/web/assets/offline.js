// Offline work on a village doctor's phone. Loaded by every page: it registers the service
// worker and, at logout, clears what this device keeps (asking first when records are not yet
// sent). On the offline page (body[data-offline]) it is the whole application: the village's
// pack (GET /api/offline/pack) and the records made here live in IndexedDB; each record carries
// its submission key, so sending it again never stores it twice.
'use strict';

const OFFLINE_DB = 'huimin-offline';

let dbOpening = null;
function openDb() {
  if (!dbOpening) {
    dbOpening = new Promise((resolve, reject) => {
      const r = indexedDB.open(OFFLINE_DB, 1);
      r.onupgradeneeded = () => {
        r.result.createObjectStore('meta');
        r.result.createObjectStore('outbox', { keyPath: 'key' });
      };
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  }
  return dbOpening;
}

// One request in one transaction; resolves once the transaction has committed ('strict': on disk).
async function idb(store, mode, request) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode, { durability: 'strict' });
    const req = request(t.objectStore(store));
    t.oncomplete = () => resolve(req.result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}
const idbGet = (store, key) => idb(store, 'readonly', (s) => s.get(key));
const idbAll = (store) => idb(store, 'readonly', (s) => s.getAll());
const idbPut = (store, value, key) => idb(store, 'readwrite', (s) => (key === undefined ? s.put(value) : s.put(value, key)));
const idbDelete = (store, key) => idb(store, 'readwrite', (s) => s.delete(key));

async function deviceHoldsData() {
  if (!window.indexedDB) return false;
  if (indexedDB.databases) return (await indexedDB.databases()).some((d) => d.name === OFFLINE_DB);
  return true;
}

async function clearDevice() {
  if (dbOpening) (await dbOpening).close();
  dbOpening = null;
  await new Promise((resolve) => {
    const r = indexedDB.deleteDatabase(OFFLINE_DB);
    r.onsuccess = r.onerror = r.onblocked = () => resolve();
  });
  if (window.caches) for (const k of await caches.keys()) await caches.delete(k);
}

if ('serviceWorker' in navigator && window.isSecureContext) {
  navigator.serviceWorker.register('/sw.js').catch(() => {});
}

// Logging out removes the village's data from this device (the server's answer clears the
// site's storage too); records not yet sent would be lost, so the user is asked first.
document.querySelectorAll('form[action="/logout"]').forEach((form) => form.addEventListener('submit', async (e) => {
  if (form.dataset.cleared) return;
  e.preventDefault();
  try {
    if (await deviceHoldsData()) {
      const waiting = (await idbAll('outbox')).filter((r) => r.state !== 'sent').length;
      if (waiting && !confirm(`本机还有 ${waiting} 条离线记录没有上传，退出后将从本机删除。仍要退出吗？`)) return;
      await clearDevice();
    }
  } catch (err) { /* storage unavailable: nothing kept here */ }
  form.dataset.cleared = '1';
  form.submit();
}));

if (document.body && 'offline' in document.body.dataset) offlineApp();

function offlineApp() {
  const view = document.getElementById('view');
  const statusLine = document.getElementById('status');
  const notice = document.getElementById('notice');
  let pack = null;
  let outbox = [];
  let syncing = false;

  // Elements from data, never from HTML strings: names and results are the users' text.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  function say(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  function newKey() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    return 'off-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  // Beijing's date (the programme's "today"), whatever zone the phone is set to.
  function today() {
    return new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
  }

  const STATE = { pending: '待上传', sent: '已上传', refused: '需处理', conflict: '需处理' };

  async function load() {
    pack = (await idbGet('meta', 'pack')) || null;
    outbox = (await idbAll('outbox')).sort((a, b) => a.made.localeCompare(b.made));
    // Sent records stay listed for a week, then go.
    const week = new Date(Date.now() - 7 * 864e5).toISOString();
    for (const r of outbox.filter((r) => r.state === 'sent' && r.sent_at < week)) await idbDelete('outbox', r.key);
    outbox = outbox.filter((r) => !(r.state === 'sent' && r.sent_at < week));
  }

  function showNet() {
    const net = document.getElementById('net');
    net.textContent = navigator.onLine ? '在线' : '离线';
    net.className = navigator.onLine ? 'badge ok' : 'badge warn';
    document.getElementById('who').textContent = pack ? `${pack.user.name} · ${pack.region.name}` : '';
  }

  function showStatus(extra) {
    const count = (s) => outbox.filter((r) => s.includes(r.state)).length;
    const parts = [];
    parts.push(pack ? `本村清单下载于 ${pack.generated_at}` : '本机还没有本村清单：请在有网络时登录后点“下载本村清单”。');
    parts.push(`待上传 ${count(['pending'])} 条 · 已上传 ${count(['sent'])} 条 · 需处理 ${count(['refused', 'conflict'])} 条`);
    if (extra) parts.push(extra);
    statusLine.textContent = parts.join('。');
  }

  // ----- talking to the server -----

  // The pack of the signed-in user's village. A device with another user's unsent records does
  // not take a new user's pack: those records must be sent by their own user first.
  async function fetchPack() {
    const res = await fetch('/api/offline/pack', { credentials: 'same-origin', headers: { accept: 'application/json' } });
    if (res.status === 401) throw new Error('登录已过期：请先登录（登录后回到本页会自动上传）');
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.detail || `服务器答复 ${res.status}`);
    if (pack && pack.user.id !== body.user.id) {
      const theirs = outbox.filter((r) => r.state !== 'sent');
      if (theirs.length) throw new Error(`本机有 ${pack.user.name} 的 ${theirs.length} 条记录未上传：请 ${pack.user.name} 登录上传后再换用户`);
      for (const r of outbox) await idbDelete('outbox', r.key);
      outbox = [];
    }
    await idbPut('meta', body, 'pack');
    pack = body;
    return body;
  }

  function requestOf(r) {
    if (r.kind === 'followup') return ['/api/followups', r.body];
    const { campaign, household_no, ...rest } = r.body;
    return [`/api/screening/${campaign}/households/${encodeURIComponent(household_no)}`, rest];
  }

  // Sends one record. Refusals and conflicts are kept with the server's reason; a network or
  // server failure leaves the record waiting and ends this round.
  async function send(r, csrf) {
    const [url, body] = requestOf(r);
    const res = await fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify(body),
    });
    const answer = await res.json().catch(() => ({}));
    if (res.status === 200 || res.status === 201) {
      Object.assign(r, { state: 'sent', reason: '', sent_at: new Date().toISOString() });
    } else if (res.status === 409) {
      Object.assign(r, { state: 'conflict', reason: answer.detail || '与服务器上的记录冲突', current: answer.current || null });
    } else if (res.status === 404) {
      Object.assign(r, { state: 'refused', reason: answer.detail && answer.detail !== '页面或记录不存在' ? answer.detail : '服务器上已没有此签约或此户（可能已退出帮扶名单或调出本村）' });
    } else if (res.status === 422 || res.status === 400 || res.status === 403) {
      Object.assign(r, { state: 'refused', reason: answer.detail || `服务器拒绝（${res.status}）` });
    } else if (res.status === 401) {
      throw new Error('登录已过期：请先登录（登录后回到本页会自动上传）');
    } else {
      throw new Error(answer.detail || `服务器暂时无法保存（${res.status}），稍后自动重试`);
    }
    await idbPut('outbox', r);
  }

  async function sync() {
    if (syncing || !navigator.onLine) { showStatus(navigator.onLine ? '' : '现在没有网络，记录保存在本机，联网后自动上传'); return; }
    syncing = true;
    let problem = '';
    try {
      const fresh = await fetchPack();
      for (const r of outbox.filter((r) => r.state === 'pending')) await send(r, fresh.csrf);
      // The worklist as the server now sees it, with what was just sent.
      await fetchPack();
    } catch (err) {
      problem = err instanceof TypeError ? '网络不通，记录保存在本机，稍后自动上传' : err.message;
    } finally {
      syncing = false;
    }
    await load();
    render();
    showStatus(problem);
  }

  // ----- records made here -----

  async function keep(record) {
    await idbPut('outbox', record);
    await load();
    location.hash = '';
    say(`已保存在本机：${record.label}（${STATE[record.state]}）`);
    render();
    if (navigator.onLine) sync();
  }

  function field(label, input) {
    return el('label', null, label, input);
  }

  function choices(legend, name, options, chosen) {
    return el('fieldset', { class: 'choices' }, el('legend', null, legend),
      options.map((o) => el('label', { class: 'check' }, el('input', { type: 'radio', name, value: o.code, checked: o.code === chosen }), o.label)));
  }

  function followUpForm(contract, record) {
    const c = pack.contracts.find((x) => x.contract === contract);
    if (!c) return el('p', { class: 'alert warn' }, '本机清单中没有这份签约，请重新下载本村清单。');
    const b = record ? record.body : {};
    const form = el('form', { class: 'card fast' },
      el('h2', null, `随访 · ${c.name}`),
      el('p', { class: 'muted' }, `${c.household_no} · ${c.team} · ${c.starts_on} – ${c.ends_on}`, c.phone ? ` · ☎ ${c.phone}` : ''),
      record && record.reason ? el('p', { class: 'alert warn' }, record.reason) : null,
      field('随访日期', el('input', { name: 'followed_on', type: 'date', required: true, value: b.followed_on || today(), max: today(), min: c.starts_on })),
      choices('方式', 'mode', pack.modes, b.mode || 'home'),
      el('div', { class: 'row' },
        field('收缩压', el('input', { name: 'systolic', inputmode: 'numeric', size: 4, value: b.systolic || '' })),
        field('舒张压', el('input', { name: 'diastolic', inputmode: 'numeric', size: 4, value: b.diastolic || '' })),
        field('空腹血糖', el('input', { name: 'glucose', inputmode: 'decimal', size: 4, value: b.glucose || '' })),
        field('心率', el('input', { name: 'heart_rate', inputmode: 'numeric', size: 4, value: b.heart_rate || '' })),
        field('体重 kg', el('input', { name: 'weight', inputmode: 'decimal', size: 4, value: b.weight || '' }))),
      choices('服药', 'adherence', pack.adherence, b.adherence || 'regular'),
      field('健康指导', el('input', { name: 'guidance', value: b.guidance || '' })),
      field('下次随访日期', el('input', { name: 'next_on', type: 'date', value: b.next_on || '' })),
      el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'again_same_day', checked: !!b.again_same_day }), '同一天再次随访（当天已有记录时需勾选）'),
      el('p', null, el('button', { class: 'primary big', type: 'submit' }, '保存到本机'), ' ', el('a', { href: '#' }, '取消')));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const f = form.elements;
      const body = {
        contract, submission_key: record ? record.key : newKey(), followed_on: f.followed_on.value, mode: f.mode.value,
        systolic: f.systolic.value.trim(), diastolic: f.diastolic.value.trim(), glucose: f.glucose.value.trim(),
        heart_rate: f.heart_rate.value.trim(), weight: f.weight.value.trim(), adherence: f.adherence.value,
        guidance: f.guidance.value.trim(), next_on: f.next_on.value, again_same_day: f.again_same_day.checked,
      };
      keep({ key: body.submission_key, kind: 'followup', made: record ? record.made : new Date().toISOString(), label: `${c.name} ${body.followed_on} 随访`, contract, body, state: 'pending', reason: '' });
    });
    return form;
  }

  function screeningForm(campaignId, no, record) {
    const campaign = pack.campaigns.find((x) => x.id === campaignId);
    const h = campaign && campaign.households.find((x) => x.household_no === no);
    if (!h) return el('p', { class: 'alert warn' }, '本机清单中没有这一户，请重新下载本村清单。');
    const b = record ? record.body : {};
    const seen = h.screening;
    const form = el('form', { class: 'card' },
      el('h2', null, `筛查 · ${h.head_name}户`),
      el('p', { class: 'muted' }, `${campaign.name} · ${h.household_no}`),
      record && record.reason ? el('p', { class: 'alert warn' }, record.reason) : null,
      seen ? el('p', null, `已登记：${seen.screened_on} ${seen.result}${seen.illness_poor ? '（因病致贫）' : ''}`) : null,
      field('核实情况', el('input', { name: 'result', required: true, value: b.result || (seen ? seen.result : '') })),
      el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'illness_poor', checked: b.illness_poor !== undefined ? b.illness_poor : !!(seen && seen.illness_poor) }), '因病致贫'),
      el('p', null, el('button', { class: 'primary big', type: 'submit' }, '保存到本机'), ' ', el('a', { href: '#' }, '取消')));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const body = {
        campaign: campaignId, household_no: no, submission_key: record ? record.key : newKey(),
        result: form.elements.result.value.trim(), illness_poor: form.elements.illness_poor.checked,
        screened_on: record ? record.body.screened_on : today(),
        // The version of the result this phone saw: one stored since is a conflict.
        based_on: record ? record.body.based_on : (seen ? seen.version : null),
      };
      keep({ key: body.submission_key, kind: 'screening', made: record ? record.made : new Date().toISOString(), label: `${h.head_name}户 筛查`, body, state: 'pending', reason: '' });
    });
    return form;
  }

  // ----- the lists -----

  function outboxList() {
    if (!outbox.length) return null;
    return el('section', { class: 'card outbox' }, el('h2', null, '本机记录'),
      el('ul', { class: 'plain' }, outbox.slice().reverse().map((r) => el('li', { 'data-key': r.key, 'data-state': r.state },
        el('span', { class: `badge ${r.state === 'sent' ? 'ok' : r.state === 'pending' ? '' : 'warn'}` }, STATE[r.state]), ' ', r.label,
        r.reason ? el('p', { class: 'reason' }, r.reason) : null,
        r.state === 'refused' ? el('p', null,
          el('a', { class: 'button', href: `#edit/${r.key}` }, '修改后重新上传'), ' ',
          el('button', { type: 'button', onclick: () => drop(r) }, '放弃此记录')) : null,
        r.state === 'conflict' ? el('p', null,
          el('button', { type: 'button', class: 'primary', onclick: () => insist(r) }, '以我的记录为准'), ' ',
          el('button', { type: 'button', onclick: () => drop(r) }, '放弃我的记录')) : null))));
  }

  async function drop(r) {
    if (!confirm(`放弃“${r.label}”？此记录将从本机删除，不会上传。`)) return;
    await idbDelete('outbox', r.key);
    await load();
    render();
  }

  // Keep one's own result over the one stored meanwhile: sent again, based on that version.
  async function insist(r) {
    r.body.based_on = r.current ? r.current.version : null;
    Object.assign(r, { state: 'pending', reason: '', current: null });
    await keep(r);
  }

  function waitingFor(pred) {
    return outbox.find((r) => r.state !== 'sent' && pred(r));
  }

  function worklist() {
    const rows = pack.contracts.slice().sort((a, b) => (b.overdue_days - a.overdue_days) || String(a.next_due || '9').localeCompare(String(b.next_due || '9')) || a.name.localeCompare(b.name, 'zh'));
    const t = today();
    return el('section', null, el('h2', null, `随访工作清单（${rows.length} 人）`),
      el('table', { class: 'card list worklist' },
        el('thead', null, el('tr', null, ['姓名', '户编号', '重点人群', '本期随访', '逾期天数', '上次随访', ''].map((x) => el('th', null, x)))),
        el('tbody', null, rows.map((c) => {
          const mine = waitingFor((r) => r.kind === 'followup' && r.contract === c.contract);
          const left = c.next_due ? Math.round((Date.parse(c.next_due) - Date.parse(t)) / 864e5) : null;
          return el('tr', { class: c.overdue_days > 0 && !mine ? 'late' : '' },
            el('td', null, c.name),
            el('td', { class: 'mono', 'data-label': '户编号' }, c.household_no),
            el('td', { 'data-label': '重点人群' }, c.key_groups.join('、') || '—'),
            el('td', { 'data-label': '本期随访' }, mine ? `本机已记录（${STATE[mine.state]}）` : c.next_due ? `${c.next_due}前（剩 ${left} 天）` : c.current_done ? '本期已随访' : '本年度已结束'),
            el('td', { class: 'num', 'data-label': '逾期天数' }, c.overdue_days > 0 ? String(c.overdue_days) : '—'),
            el('td', { 'data-label': '上次随访' }, c.last_follow_up || '—'),
            el('td', null, c.starts_on <= t ? el('a', { class: 'button primary', href: `#followup/${c.contract}` }, '随访') : null));
        }))));
  }

  function screenings() {
    return pack.campaigns.map((campaign) => el('section', null,
      el('h2', null, `${campaign.name}（${campaign.starts_on} – ${campaign.ends_on}）`),
      el('table', { class: 'card list' },
        el('thead', null, el('tr', null, ['户编号', '户主', '筛查结果', ''].map((x) => el('th', null, x)))),
        el('tbody', null, campaign.households.map((h) => {
          const mine = waitingFor((r) => r.kind === 'screening' && r.body.campaign === campaign.id && r.body.household_no === h.household_no);
          return el('tr', null,
            el('td', { class: 'mono' }, h.household_no),
            el('td', { 'data-label': '户主' }, h.head_name),
            el('td', { 'data-label': '筛查结果' }, mine ? `${mine.body.result}（${STATE[mine.state]}）` : h.screening ? `${h.screening.screened_on} · ${h.screening.result}${h.screening.illness_poor ? ' · 因病致贫' : ''}` : '未筛查'),
            el('td', null, el('a', { class: 'button', href: `#screen/${campaign.id}/${encodeURIComponent(h.household_no)}` }, '筛查')));
        })))));
  }

  function render() {
    showNet();
    showStatus();
    view.replaceChildren();
    const [what, a, b] = location.hash.slice(1).split('/').map(decodeURIComponent);
    if (pack && what === 'followup') return view.append(followUpForm(Number(a)));
    if (pack && what === 'screen') return view.append(screeningForm(Number(a), b));
    if (what === 'edit') {
      const r = outbox.find((x) => x.key === a);
      if (pack && r) return view.append(r.kind === 'followup' ? followUpForm(r.contract, r) : screeningForm(r.body.campaign, r.body.household_no, r));
    }
    view.append(...[outboxList(), pack ? worklist() : null, ...(pack ? screenings() : [])].filter(Boolean));
  }

  document.getElementById('sync').addEventListener('click', () => { say(''); sync(); });
  document.getElementById('refresh').addEventListener('click', async () => {
    say('');
    try { await fetchPack(); say('已下载本村清单'); } catch (err) { say(err instanceof TypeError ? '网络不通，暂时无法下载' : err.message); }
    await load();
    render();
  });
  window.addEventListener('hashchange', () => { say(''); render(); });
  window.addEventListener('online', () => sync());
  window.addEventListener('offline', () => { showNet(); showStatus('现在没有网络，记录保存在本机，联网后自动上传'); });

  load().then(() => {
    render();
    if (navigator.onLine) sync();
  }).catch((err) => { statusLine.textContent = `本机存储不可用：${err.message}`; });
}
