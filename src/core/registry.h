/*
 * The VM name registry: one running VM per name. A VM holds an exclusive
 * flock on RUNDIR/NAME/lock for its lifetime; the kernel drops it when the
 * process dies however it dies, so a stale entry is simply re-locked by the
 * next start. RUNDIR is the config key "rundir", else $KHYVE_RUNDIR, else
 * /run/khyve (root) or $XDG_RUNTIME_DIR/khyve.
 */
#ifndef KHYVE_REGISTRY_H
#define KHYVE_REGISTRY_H

/* Claim the name; prints one line and returns -1 if it is taken or unusable. */
int registry_claim(const char *name);
/* Remove our entry (on the way out). */
void registry_release(void);
const char *registry_rundir(void);

#endif
