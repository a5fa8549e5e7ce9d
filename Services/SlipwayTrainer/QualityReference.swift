import Foundation

/// The reference side of `slipway-trainer quality` (run by `slipway bench quality` in its own virtualenv): reads
/// MovieLens-100K from the recbole wheel's examples, writes the CSVs the trainer reads, splits and scores them by
/// the same protocol (README, "How a run is evaluated") and fits implicit's ALS (64 factors, 15 iterations) with
/// λ and alpha chosen on the validation split by the trainer's criterion over the whole grid the trainer searches
/// (the trainer searches it coordinate-wise). Prints one JSON object.
enum QualityReference {
    static let script = #"""
        import json, math, os, sys, time, zipfile
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        import numpy as np
        import scipy.sparse as sp
        from threadpoolctl import threadpool_limits
        import implicit

        work = sys.argv[1]
        wheel = next(os.path.join(work, "wheels", f) for f in os.listdir(os.path.join(work, "wheels")) if f.startswith("recbole"))
        base = "recbole/dataset_example/ml-100k/ml-100k."
        with zipfile.ZipFile(wheel) as z:
            table = {k: z.read(base + k).decode("utf-8").splitlines() for k in ("inter", "user", "item")}

        def columns(lines):
            return [h.split(":")[0] for h in lines[0].split("\t")], [l.split("\t") for l in lines[1:] if l]

        def write_csv(name, header, rows):
            with open(os.path.join(work, name), "w") as f:
                f.write(",".join(header) + "\n")
                for r in rows:
                    f.write(",".join('"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v for v in r) + "\n")

        _, inter = columns(table["inter"])
        write_csv("transactions.csv", ["user_id", "item_id", "rating", "timestamp"], [[u, i, r, str(int(float(t)))] for u, i, r, t in inter])
        uh, users = columns(table["user"])
        write_csv("customers.csv", uh, users)
        ih, items = columns(table["item"])
        write_csv("products.csv", ["item_id", "title", "year", "genres"], [[r[0], r[1], r[2], r[3]] for r in items])

        def half_up(x):
            return int(math.floor(x + 0.5))

        # The split: per customer by time (file order breaks ties), last 20 % test, last 10 % of the rest validation.
        by_user = {}
        for row, (u, i, _, t) in enumerate(inter):
            by_user.setdefault(u, []).append((float(t), row, i))
        train, val, test = [], [], []
        for u, rows in by_user.items():
            rows.sort()
            n = len(rows)
            nt = 0 if n < 2 else min(n - 1, max(1, half_up(n * 0.2)))
            m = n - nt
            nv = 0 if m < 2 else min(m - 1, max(1, half_up(m * 0.1)))
            train += [(u, i) for _, _, i in rows[: m - nv]]
            val += [(u, i) for _, _, i in rows[m - nv : m]]
            test += [(u, i) for _, _, i in rows[m:]]

        uix = {u: k for k, u in enumerate(sorted(by_user))}
        all_items = sorted({r[1] for r in inter})
        iix = {i: k for k, i in enumerate(all_items)}

        def matrix(pairs):
            m = sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), ([uix[u] for u, _ in pairs], [iix[i] for _, i in pairs])),
                              shape=(len(uix), len(iix)))
            m.sum_duplicates()
            return m

        def evaluation_set(history, held_out):
            seen = [set() for _ in uix]
            known = np.zeros(len(iix), dtype=bool)
            for u, i in history:
                seen[uix[u]].add(iix[i]); known[iix[i]] = True
            targets = {}
            for u, i in held_out:
                k = iix[i]
                if k in seen[uix[u]] or not known[k]:
                    continue
                targets.setdefault(uix[u], set()).add(k)
            return seen, known, targets

        def evaluate(scores, es):
            seen, known, targets = es
            r10, r100, ndcg = [], [], []
            for u, t in targets.items():
                s = scores(u).astype(np.float64).copy()
                s[~known] = -np.inf
                s[list(seen[u])] = -np.inf
                top = np.argsort(-s, kind="stable")[:100]
                hits = [1 if x in t else 0 for x in top]
                r10.append(sum(hits[:10]) / len(t)); r100.append(sum(hits) / len(t))
                dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits[:10]))
                ndcg.append(dcg / sum(1 / math.log2(r + 2) for r in range(min(10, len(t)))))
            return {"recall_at_10": float(np.mean(r10)), "recall_at_100": float(np.mean(r100)), "ndcg_at_10": float(np.mean(ndcg))}

        def als(pairs, reg, alpha):
            with threadpool_limits(1):
                m = implicit.cpu.als.AlternatingLeastSquares(factors=64, iterations=15, regularization=reg, alpha=alpha,
                                                             random_state=1, calculate_training_loss=False)
                m.fit(matrix(pairs), show_progress=False)
            return m

        history = train + val
        val_set, test_set = evaluation_set(train, val), evaluation_set(history, test)
        best, trials = None, []
        for reg in (0.1, 1.0, 5.0, 10.0, 20.0, 50.0):
            for alpha in (1.0, 2.0, 5.0, 10.0):
                m = als(train, reg, alpha)
                v = evaluate(lambda u: m.item_factors @ m.user_factors[u], val_set)
                trials.append({"regularization": reg, "alpha": alpha, **{"validation_" + k: x for k, x in v.items()}})
                key = v["recall_at_10"] * v["recall_at_100"]
                if best is None or key > best[0]:
                    best = (key, reg, alpha)
        _, reg, alpha = best
        t0 = time.time()
        m = als(history, reg, alpha)
        fit_s = time.time() - t0
        ref = evaluate(lambda u: m.item_factors @ m.user_factors[u], test_set)
        pop = np.asarray(matrix(history).sum(axis=0)).ravel()
        popularity = evaluate(lambda u: pop, test_set)
        print(json.dumps({
            "als_recall_at_10": ref["recall_at_10"], "als_recall_at_100": ref["recall_at_100"], "als_ndcg_at_10": ref["ndcg_at_10"],
            "als_regularization": reg, "als_alpha": alpha, "als_fit_s": fit_s, "als_trials": trials,
            "popularity_recall_at_10": popularity["recall_at_10"], "popularity_recall_at_100": popularity["recall_at_100"],
            "customers": len(uix), "items": len(iix), "rows": len(inter), "test_customers": len(test_set[2]),
        }))
        """#
}
