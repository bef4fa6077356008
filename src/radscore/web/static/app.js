"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const fmt = (v, d) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));

  fetch("/api/model").then((r) => r.json()).then((m) => {
    $("model-line").textContent = `Model ${m.name} (${m.features.length} features, cross-validated AUC ` +
      `${fmt(m.cv_auc, 3)}); cutoff ${fmt(m.cutoff, 4)} (${m.cutoff_method}); positive class: ${m.positive_class || "1"}.`;
    $("prob-label").textContent = `Probability of ${m.positive_class || "class 1"}`;
    // a PET-only (CT-only) model asks for that image alone
    for (const role of ["ct", "pet"]) {
      const used = (m.modalities || ["pet", "ct"]).includes(role);
      for (const id of [role, "fu_" + role]) {
        $(id).closest("label").hidden = !used;
        $(id).required = used && id === role;
      }
    }
  }).catch(() => { $("model-line").textContent = "Model information unavailable."; });

  function showError(msg) {
    const e = $("error");
    e.textContent = msg;
    e.hidden = false;
  }

  function render(res) {
    const base = res.scans[0];
    const last = res.scans[res.scans.length - 1];
    const model = res.model;
    $("radscore").textContent = fmt(base.radscore, 4);
    $("radscore").dataset.value = String(base.radscore);
    $("radscore-note").textContent = "log-odds, baseline scan";
    $("probability").textContent = fmt(base.probability, 3);
    const g = $("group");
    g.textContent = base.group === "high" ? "High" : "Low";
    g.className = "value group-" + base.group;
    $("cutoff").textContent = `Radscore ${base.radscore > model.cutoff ? ">" : "≤"} cutoff ${fmt(model.cutoff, 4)}`;
    $("percentile").textContent = base.percentile === null ? "–" : `${Math.round(100 * base.percentile)}th`;
    $("ntrain").textContent = model.n_training ? `of ${model.n_training} training patients` : "training scores not available";

    const warnings = [];
    res.scans.forEach((s) => {
      (s.warnings || []).forEach((w) => warnings.push(`${s.timepoint}: ${w}`));
    });
    const list = $("warning-list");
    list.replaceChildren(...warnings.map((w) => { const li = document.createElement("li"); li.textContent = w; return li; }));
    $("warnings").hidden = warnings.length === 0;

    $("dist-img").src = res.images.distribution;
    if (res.images.trajectory) {
      $("traj-img").src = res.images.trajectory;
      $("traj-fig").hidden = false;
      const c = res.change;
      $("change").textContent = `Follow-up Radscore ${fmt(last.radscore, 4)} (probability ${fmt(last.probability, 3)}, ` +
        `group ${last.group}); change ${c.delta_radscore >= 0 ? "+" : ""}${fmt(c.delta_radscore, 4)}` +
        (c.crossed_cutoff ? `, crossed the cutoff (${c.from} → ${c.to}).` : ", same side of the cutoff.");
      $("change").hidden = false;
    } else {
      $("traj-fig").hidden = true;
      $("change").hidden = true;
    }
    const slices = $("slices");
    slices.replaceChildren(...res.images.slices.map((src, i) => {
      const f = document.createElement("figure");
      const img = document.createElement("img");
      img.src = src;
      img.alt = `PET and CT slices with VOIs (${res.scans[i].timepoint})`;
      img.className = "slices";
      f.appendChild(img);
      return f;
    }));
    $("volumes").textContent = res.scans.map((s) => `${s.timepoint} VOI volumes (mL): ` +
      Object.entries(s.voi_volumes_ml).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(", ")).join(" · ") +
      ` · computed in ${res.seconds} s`;
    $("kept").textContent = res.kept ? "The server keeps uploads: a copy was stored by the server's operator."
      : "Uploads were deleted after scoring.";
    $("result").hidden = false;
  }

  $("upload").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("error").hidden = true;
    $("result").hidden = true;
    const data = new FormData();
    for (const id of ["ct", "pet", "mask", "fu_ct", "fu_pet", "fu_mask"]) {
      const f = $(id).files[0];
      if (f) data.append(id, f, f.name);
    }
    data.append("patient_id", $("patient_id").value);
    $("submit").disabled = true;
    $("busy").hidden = false;
    try {
      const r = await fetch("/api/predict", { method: "POST", body: data });
      let body = null;
      try { body = await r.json(); } catch (e) { body = null; }
      if (!r.ok) {
        showError((body && body.error) || `The server answered ${r.status}.`);
      } else {
        render(body);
      }
    } catch (e) {
      showError("The server could not be reached: " + e.message);
    } finally {
      $("submit").disabled = false;
      $("busy").hidden = true;
    }
  });
})();
