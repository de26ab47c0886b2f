// The only script: print buttons (pages work without it).
document.querySelectorAll('[data-print]').forEach((b) => b.addEventListener('click', () => window.print()));
