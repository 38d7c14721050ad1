#!/usr/bin/env python3
"""The module graph of gcks/: who calls whom, and who includes whose header.

Calls come from the objects of libgcks.a (`nm`: a module that leaves a symbol undefined that
another module defines calls it); includes from the #include "..." lines of gcks/*.c and
gcks/*.h (a module including another module's header uses it). Prints both graphs and fails
when either has a cycle, when a module calls or includes one of a higher layer, or when a module
is missing from LAYERS below (a new file states where it belongs).

The intended layers, lowest first; each calls only its own layer (without cycles) and below:
"""
import argparse
import os
import re
import subprocess
import sys

LAYERS = [
    # 0: outside the protocol core: the store, policies and their YAML form
    ('store', ['storage', 'schema_sql', 'policy', 'policy_yaml']),
    # 1: the key rules, run in the store's transactions: key shapes, reserved SPIs, Message IDs,
    # Sender-IDs, what a policy change does to keys
    ('keyrules', ['gcks_keyrules', 'gcks_lkh']),
    # 2: leaf services of the core: table hashes, the refusal log, the response under construction,
    #    the reused IKE_SA_INIT key pairs, the SAs' timer heap
    ('base', ['gcks_keyhash', 'gcks_refusal', 'gcks_resp', 'gcks_dh_cache', 'gcks_timers']),
    # 3: the indexes the SA table keeps: half-open SAs per source, established SAs by identity
    ('index', ['gcks_sources', 'gcks_peers']),
    # 4: the SA table (lookup, insert, remove, gcks_sa_foreach)
    ('sa_table', ['gcks_sa_table']),
    # 5: group state (keys, members, tags, next SPIs, TEK/KEK attributes); our credentials; which
    #    server leads each group's rekeys on a shared store
    ('groups', ['gcks_groups', 'gcks_creds', 'gcks_cluster']),
    # 5b: the log lines of rekeys sent and resent, evictions (group names, the SA table)
    ('eventlog', ['gcks_eventlog']),
    # 6: rekeying: the scheduler, GSA_REKEY and GSA_INBAND_REKEY, our requests on an IKE SA;
    #    which senders hold single-sender counter-mode keys
    ('rekey', ['gcks_rekey', 'gcks_sender_keys']),
    # 7: exchange handlers: IKE_SA_INIT, registration, IKE SA rekeying, authentication,
    # IKE_INTERMEDIATE
    ('handlers', ['gcks_init', 'gcks_reg', 'gcks_ikerekey', 'gcks_auth', 'gcks_intermediate']),
    # 8: admin actions: reload, rekey, evict; signing key rollover
    ('admin', ['gcks_admin', 'gcks_keyroll']),
    # 9: the core: input pipeline, the exchange table, timers, life cycle
    ('core', ['gcks_core']),
    # 10: the control socket over the core (gcksd and gcksctl, outside libgcks, are above it)
    ('control', ['control', 'metrics']),
]
# Headers that are not one module's interface: the public API of the core (gcks.h, whose
# functions the core, groups, admin and keyroll define) and the state every module shares.
SHARED_HEADERS = {'gcks.h', 'gcks_state.h'}

LAYER_OF = {m: i for i, (_, mods) in enumerate(LAYERS) for m in mods}


def layer_of(m):
    """A module of the core (gcks_*) must be in LAYERS; any other object of libgcks.a (the
    store, which may be split into files of its own, the policy code) is outside the core and
    below it."""
    if m in LAYER_OF:
        return LAYER_OF[m]
    return None if m.startswith('gcks_') else 0


def module_of_object(name):
    base = os.path.basename(name)
    base = re.sub(r'^.*_a-', '', base)  # automake's per-target prefix, if any
    return base[:-2] if base.endswith('.o') else base


def call_graph(archive):
    out = subprocess.run(['nm', '-A', '-g', archive], capture_output=True, text=True, check=True).stdout
    defs, undefs = {}, {}
    for line in out.splitlines():
        head, _, rest = line.rpartition(':')
        mod = module_of_object(head.split(':')[-1])
        f = rest.split()
        defs.setdefault(mod, set())
        undefs.setdefault(mod, set())
        if len(f) == 3 and f[1] in 'TDBRC':
            defs[mod].add(f[2])
        elif len(f) == 2 and f[0] == 'U':
            undefs[mod].add(f[1])
    owner = {s: m for m, ss in defs.items() for s in ss}
    g = {m: {} for m in defs}
    for m, ss in undefs.items():
        for s in ss:
            o = owner.get(s)
            if o and o != m:
                g[m].setdefault(o, set()).add(s)
    return g


def include_graph(gcks_dir, modules):
    g = {m: {} for m in modules}
    for fn in sorted(os.listdir(gcks_dir)):
        if not fn.endswith(('.c', '.h')):
            continue
        mod = fn[:-2]
        if mod not in g:
            continue  # gcksd.c, gcksctl.c and headers of no module
        with open(os.path.join(gcks_dir, fn), encoding='utf-8') as f:
            for inc in re.findall(r'^#include "([^"]+)"', f.read(), re.M):
                dep = inc[:-2] if inc.endswith('.h') else inc
                if inc in SHARED_HEADERS or dep == mod or dep not in g:
                    continue
                g[mod].setdefault(dep, set()).add(fn + ' includes ' + inc)
    return g


def cycles(g):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def check(title, g, verbose):
    bad = []
    print(f'{title} (module [layer] -> what it uses):')
    rank = lambda m: (-(layer_of(m) if layer_of(m) is not None else 99), m)
    for m in sorted(g, key=rank):
        lm = layer_of(m)
        lay = LAYERS[lm][0] if lm is not None else '?'
        deps = sorted(g[m], key=rank)
        print(f'  {m} [{lay}] -> {", ".join(deps) if deps else "-"}')
        if lm is None:
            bad.append(f'{m}: not in the layer table of test/arch/gcks_graph.py')
            continue
        for d in deps:
            ld = layer_of(d)
            if ld is not None and ld > lm:
                what = ', '.join(sorted(g[m][d]))
                bad.append(f'{m} [{lay}] uses {d} [{LAYERS[ld][0]}], a higher layer: {what}')
        if verbose:
            for d in deps:
                print(f'      {d}: {" ".join(sorted(g[m][d]))}')
    for c in cycles(g):
        bad.append('cycle: ' + ' <-> '.join(c))
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--srcdir', default='.')
    ap.add_argument('--lib', default='gcks/libgcks.a', help='libgcks.a in the build tree')
    ap.add_argument('-v', '--verbose', action='store_true', help='list the symbols of each call edge')
    a = ap.parse_args()
    calls = call_graph(a.lib)
    bad = check('calls', calls, a.verbose)
    bad += check('includes', include_graph(os.path.join(a.srcdir, 'gcks'), set(calls)), a.verbose)
    for b in bad:
        print('FAIL ' + b)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
