// The console's camera button: reads a Vietnamese plate from a photo on the phone itself (tesseract.js, all of
// it served from our own /static/parking/vendor/tesseract-<version>/, nothing from a CDN), and hands ranked
// readings [{plate, score}] to the console through a "citypay:plate-readings" event. Typing stays available.
//
// The page (parking/plate_scan.html) gives the URLs and the Vietnamese/English sentences as data- attributes
// of #plate-scan. window.citypayPlateScan.read(fileOrBlob) -> Promise<readings> is there for tests too.
(function () {
  "use strict";

  // ---- Plates: what a reading may be (parking/plates.py is the authority; this only ranks guesses) -------
  // Series letters (I, J, O, Q, R, W are never issued); with digits, '-' and '.', the only characters the
  // engine may answer with.
  var SERIES_LETTERS = "ABCDEFGHKLMNPSTUVXYZ";
  var WHITELIST = "0123456789" + SERIES_LETTERS + "-.";
  var UNUSED_PROVINCES = { 13: 1, 42: 1, 44: 1, 45: 1, 46: 1, 87: 1, 91: 1, 96: 1 };
  var SPECIAL_CAR_SERIES = { LD: 1, DA: 1, KT: 1, HC: 1 };
  // A letter read where a digit belongs, and a digit where a letter belongs: the likeliest repair first.
  var TO_DIGIT = { O: "0", Q: "0", D: "0", U: "0", I: "1", L: "1", T: "17", J: "1", B: "83", G: "6", S: "5",
    Z: "27", A: "4", E: "3", Y: "7", C: "0", P: "9", H: "4", K: "4", X: "8", F: "7", V: "7", N: "4", M: "4" };
  var TO_LETTER = { "0": "DCU", "8": "BH", "6": "G", "5": "S", "2": "Z", "1": "TL", "4": "A", "3": "B", "7": "TZ",
    "9": "P", O: "D", Q: "D", I: "T", J: "T", R: "BP", W: "V" };
  var COMMON = { "0D": 1, "D0": 1, "O0": 1, "8B": 1, "B8": 1, "6G": 1, "G6": 1, "5S": 1, "S5": 1, "2Z": 1,
    "Z2": 1, "1I": 1, "I1": 1, "1T": 1, "T1": 1, "7Z": 1, "Z7": 1, "7T": 1, "T7": 1, "4A": 1, "A4": 1 };
  // Cyrillic and Greek letters drawn like the Latin ones (as parking/plates.py folds them).
  var LOOKALIKE = { "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K",
    "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X" };

  function compact(text) {
    var out = "";
    var s = String(text).normalize("NFKC").toUpperCase();
    for (var i = 0; i < s.length; i++) {
      var ch = LOOKALIKE[s[i]] || s[i];
      if (/[0-9A-Z]/.test(ch)) out += ch;
    }
    return out;
  }

  // One character of a template: 'D' any digit, 'N' digit 1–9 (a motorbike series' digit), 'L' a series
  // letter. Returns the possible characters with their cost: 0 as read, 1 a common confusion, 2 another.
  function fit(ch, want) {
    var isDigit = ch >= "0" && ch <= "9";
    var out = [];
    if (want === "L") {
      if (!isDigit && SERIES_LETTERS.indexOf(ch) >= 0) return [[ch, 0]];
      (TO_LETTER[ch] || "").split("").forEach(function (l, i) {
        out.push([l, (COMMON[ch + l] ? 1 : 2) + i]);
      });
      return out;
    }
    var digits = isDigit ? ch : TO_DIGIT[ch] || "";
    digits.split("").forEach(function (d, i) {
      if (want === "N" && d === "0") return;
      out.push([d, isDigit ? 0 : (COMMON[ch + d] ? 1 : 2) + i]);
    });
    return out;
  }

  // The cheapest few ways `chars` fits `template`: [{text, cost}].
  function fitTemplate(chars, template) {
    if (chars.length !== template.length) return [];
    var beam = [{ text: "", cost: 0 }];
    for (var i = 0; i < chars.length; i++) {
      var options = fit(chars[i], template[i]);
      if (!options.length) return [];
      var next = [];
      beam.forEach(function (b) {
        options.forEach(function (o) { next.push({ text: b.text + o[0], cost: b.cost + o[1] }); });
      });
      beam = next.sort(function (x, y) { return x.cost - y.cost; }).slice(0, 3);
    }
    return beam;
  }

  function provinceOk(p) {
    var n = parseInt(p, 10);
    return n >= 11 && n <= 99 && !UNUSED_PROVINCES[n];
  }

  function dotted(number) {
    return number.length === 5 ? number.slice(0, 3) + "." + number.slice(3) : number;
  }

  // Heads (province + series) and the written form of each layout: car "30A-123.45" (one line, or a square
  // plate "30A / 123.45"), motorbike "29-B1 123.45" (two lines), 2023 motorbike series "29-AA 123.45".
  var HEADS = [
    { t: "DDL", kind: "car", digits: [5, 4] },
    { t: "DDLL", kind: "car2", digits: [5, 4] },
    { t: "DDLN", kind: "moto", digits: [5, 4] },
    { t: "DDLL", kind: "moto2", digits: [5] },
  ];

  function written(kind, head, number) {
    var province = head.slice(0, 2), series = head.slice(2);
    if (kind === "car" || kind === "car2") return province + series + "-" + dotted(number);
    return province + "-" + series + " " + dotted(number);
  }

  function headValid(kind, head) {
    if (!provinceOk(head.slice(0, 2))) return false;
    if (kind === "car2") return !!SPECIAL_CAR_SERIES[head.slice(2)];
    // NG, CV (diplomatic) and NN (foreign) are written otherwise (80NG-123-45): not read here.
    if (kind === "moto2") return !{ NG: 1, CV: 1, NN: 1 }[head.slice(2)];
    return true;
  }

  // Plates readable from a head string and a number string; cost counts repairs, and `dropped` characters
  // the engine added (a border read as a digit, a screw as a dot). `extra` is added to every cost.
  function readingsOf(headChars, numberChars, layout, extra, out) {
    HEADS.forEach(function (h) {
      for (var hs = 0; hs + h.t.length <= headChars.length; hs++) {
        var heads = fitTemplate(headChars.slice(hs, hs + h.t.length), h.t).filter(function (x) {
          return headValid(h.kind, x.text);
        });
        if (!heads.length) continue;
        var headDrop = headChars.length - h.t.length;
        h.digits.forEach(function (n) {
          for (var ns = 0; ns + n <= numberChars.length; ns++) {
            var nums = fitTemplate(numberChars.slice(ns, ns + n), "DDDDDDD".slice(0, n));
            var drop = headDrop + numberChars.length - n;
            var cost = extra + 2 * drop;
            // The layout says which class: one line is a car; two lines are a motorbike, or a square car
            // plate whose head has no series digit. Four digits are the legacy form, rarer than five.
            if (layout === 1 && (h.kind === "moto" || h.kind === "moto2")) cost += 2;
            if (n === 4) cost += 1;
            heads.forEach(function (head) {
              nums.forEach(function (num) {
                out.push({ plate: written(h.kind, head.text, num.text), cost: cost + head.cost + num.cost });
              });
            });
          }
        });
      }
    });
  }

  // Raw engine text (one or more lines) -> [{plate, cost}], cheapest first, each plate once.
  function parse(text) {
    var lines = String(text).split(/\n+/).map(compact).filter(function (l) { return l.length >= 2; });
    var found = [];
    if (lines.length) {
      var all = lines.join("");
      var layout = lines.length >= 2 ? 2 : 1;
      // Every split of the joined text into head and number: a two-line plate read as one line, or a line
      // broken where the engine saw a gap, still has one; on two lines, splitting elsewhere than the engine
      // did costs a little.
      for (var cut = 3; cut <= Math.min(6, all.length - 4); cut++) {
        readingsOf(all.slice(0, cut), all.slice(cut), layout, layout === 2 && cut !== lines[0].length ? 2 : 0,
          found);
      }
      if (lines.length >= 2) {
        // Other text in the photo (a dealer's frame, a sticker) adds lines: each line alone may be a car's
        // plate, each pair of lines a motorbike's.
        lines.forEach(function (line) {
          for (var c = 3; c <= Math.min(6, line.length - 4); c++) {
            readingsOf(line.slice(0, c), line.slice(c), 1, 1, found);
          }
        });
        for (var i = 0; i + 1 < lines.length; i++) {
          readingsOf(lines[i], lines[i + 1], 2, lines.length === 2 ? 0 : 1, found);
        }
      }
    }
    var best = {};
    found.forEach(function (r) {
      if (!(r.plate in best) || best[r.plate] > r.cost) best[r.plate] = r.cost;
    });
    return Object.keys(best)
      .map(function (p) { return { plate: p, cost: best[p] }; })
      .sort(function (a, b) { return a.cost - b.cost; });
  }

  // ---- Images: the photo drawn into canvases the engine reads well -----------------------------------
  function loadBitmap(blob) {
    if (window.createImageBitmap) return createImageBitmap(blob);
    return new Promise(function (resolve, reject) {
      var img = new Image();
      var reader = new FileReader();
      reader.onload = function () { img.src = reader.result; };
      reader.onerror = reject;
      img.onload = function () { resolve(img); };
      img.onerror = reject;
      reader.readAsDataURL(blob);
    });
  }

  // A region of the source: centre (cx, cy), size w × h and the angle of its long side (radians), all in
  // source pixels. The whole photo is {cx: W/2, cy: H/2, w: W, h: H, theta: 0}.
  function wholeRegion(source) {
    return { cx: source.width / 2, cy: source.height / 2, w: source.width, h: source.height, theta: 0 };
  }

  // Grey levels of `region` drawn upright at `scale`, with `pad` white pixels around it.
  function greyCanvas(source, region, scale, pad) {
    var w = Math.max(1, Math.round(region.w * scale)), h = Math.max(1, Math.round(region.h * scale));
    var cw = w + 2 * pad, ch = h + 2 * pad;
    var canvas = document.createElement("canvas");
    canvas.width = cw;
    canvas.height = ch;
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, cw, ch);
    ctx.save();
    ctx.beginPath();
    ctx.rect(pad, pad, w, h);
    ctx.clip();
    ctx.imageSmoothingQuality = "high";
    ctx.translate(pad + w / 2, pad + h / 2);
    ctx.scale(scale, scale);
    ctx.rotate(-region.theta);
    ctx.translate(-region.cx, -region.cy);
    ctx.drawImage(source, 0, 0);
    ctx.restore();
    var img = ctx.getImageData(0, 0, cw, ch);
    var d = img.data, grey = new Uint8ClampedArray(cw * ch);
    for (var i = 0, j = 0; i < d.length; i += 4, j++) {
      grey[j] = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    }
    return { canvas: canvas, ctx: ctx, img: img, grey: grey, w: cw, h: ch, pad: pad };
  }

  function histogram(grey, g) {
    var hist = new Uint32Array(256);
    if (g && g.pad) {
      for (var y = g.pad; y < g.h - g.pad; y++) {
        for (var x = g.pad; x < g.w - g.pad; x++) hist[grey[y * g.w + x] | 0]++;
      }
      return hist;
    }
    for (var i = 0; i < grey.length; i++) hist[grey[i] | 0]++;
    return hist;
  }

  function percentile(hist, q) {
    var total = 0, v;
    for (v = 0; v < 256; v++) total += hist[v];
    var target = total * q, sum = 0;
    for (v = 0; v < 256; v++) {
      sum += hist[v];
      if (sum >= target) return v;
    }
    return 255;
  }

  function otsu(hist) {
    var sum = 0, total = 0, t;
    for (t = 0; t < 256; t++) {
      sum += t * hist[t];
      total += hist[t];
    }
    var sumB = 0, wB = 0, best = 0, threshold = 128;
    for (var v = 0; v < 256; v++) {
      wB += hist[v];
      if (!wB) continue;
      var wF = total - wB;
      if (!wF) break;
      sumB += v * hist[v];
      var mB = sumB / wB, mF = (sum - sumB) / wF;
      var between = wB * wF * (mB - mF) * (mB - mF);
      if (between > best) {
        best = between;
        threshold = v;
      }
    }
    return threshold;
  }

  // Running maximum over `radius` pixels along rows, then columns: the ground's brightness around each
  // pixel, letters and all, so a shadow across the plate can be divided out.
  function localMax(grey, w, h, radius) {
    var tmp = new Float32Array(w * h), out = new Float32Array(w * h), x, y, k, m;
    for (y = 0; y < h; y++) {
      for (x = 0; x < w; x++) {
        m = 0;
        for (k = Math.max(0, x - radius); k <= Math.min(w - 1, x + radius); k += 2) {
          if (grey[y * w + k] > m) m = grey[y * w + k];
        }
        tmp[y * w + x] = m;
      }
    }
    for (x = 0; x < w; x++) {
      for (y = 0; y < h; y++) {
        m = 0;
        for (k = Math.max(0, y - radius); k <= Math.min(h - 1, y + radius); k += 2) {
          if (tmp[k * w + x] > m) m = tmp[k * w + x];
        }
        out[y * w + x] = m;
      }
    }
    return out;
  }

  // mode "stretch": grey levels stretched between the 2nd and 98th percentile; "binary": black on white at
  // Otsu's threshold of the stretched levels. On a plate (`plate` true): light letters on a dark ground
  // (blue and red plates) are inverted, so the engine always sees dark on light, and the ground's light is
  // evened out (a shadow across half the plate).
  function prepared(source, region, scale, mode, pad, plate) {
    var g = greyCanvas(source, region, scale, pad || 0);
    var hist = histogram(g.grey, g);
    var lo = percentile(hist, 0.02), hi = percentile(hist, 0.98);
    var span = Math.max(hi - lo, 1);
    var grey = new Float32Array(g.grey.length), i, v;
    var invert = plate && percentile(hist, 0.5) < (lo + hi) / 2 - 0.15 * span;
    for (i = 0; i < grey.length; i++) grey[i] = invert ? 255 - g.grey[i] : g.grey[i];
    if (plate) {
      // The white padding is no part of the ground.
      var inner = new Float32Array(grey.length);
      for (var y = g.pad; y < g.h - g.pad; y++) {
        for (var x = g.pad; x < g.w - g.pad; x++) inner[y * g.w + x] = grey[y * g.w + x];
      }
      var ground = localMax(inner, g.w, g.h, Math.max(4, Math.round((g.h - 2 * g.pad) / 5)));
      for (i = 0; i < grey.length; i++) {
        grey[i] = ground[i] ? Math.min(255, (255 * grey[i]) / Math.max(ground[i], 16)) : 255;
      }
    }
    var bytes = new Uint8ClampedArray(grey);
    hist = histogram(bytes, g);
    lo = percentile(hist, 0.02);
    hi = percentile(hist, 0.98);
    span = Math.max(hi - lo, 1);
    for (i = 0; i < grey.length; i++) bytes[i] = ((grey[i] - lo) * 255) / span;
    var level = otsu(histogram(bytes, g));
    if (plate) clearBorder(bytes, g, level);
    var threshold = mode === "binary" ? level : -1;
    var d = g.img.data;
    for (i = 0; i < bytes.length; i++) {
      v = bytes[i];
      if (threshold >= 0) v = v > threshold ? 255 : 0;
      d[4 * i] = d[4 * i + 1] = d[4 * i + 2] = v;
      d[4 * i + 3] = 255;
    }
    g.ctx.putImageData(g.img, 0, 0);
    return g.canvas;
  }

  // What is left of the plate's border at the crop's edges (a dark bar the engine reads as 1, I or L): the
  // dark components touching the edge that are long and thin or span the crop. Letters that merely touch
  // the edge stay.
  function clearBorder(bytes, g, level) {
    var w = g.w, h = g.h, p0 = g.pad, iw = w - 2 * p0, ih = h - 2 * p0;
    var seen = new Uint8Array(w * h), stack = [], x, y;
    function dark(i) { return bytes[i] <= level; }
    function sweep(start) {
      if (seen[start] || !dark(start)) return;
      var members = [start], x0 = w, x1 = 0, y0 = h, y1 = 0;
      seen[start] = 1;
      stack.push(start);
      while (stack.length) {
        var i = stack.pop(), cx = i % w, cy = (i - cx) / w;
        if (cx < x0) x0 = cx;
        if (cx > x1) x1 = cx;
        if (cy < y0) y0 = cy;
        if (cy > y1) y1 = cy;
        var around = [cx > p0 ? i - 1 : -1, cx < w - p0 - 1 ? i + 1 : -1, cy > p0 ? i - w : -1,
          cy < h - p0 - 1 ? i + w : -1];
        for (var k = 0; k < 4; k++) {
          var q = around[k];
          if (q < 0 || seen[q] || !dark(q)) continue;
          seen[q] = 1;
          members.push(q);
          stack.push(q);
        }
      }
      var bw = x1 - x0 + 1, bh = y1 - y0 + 1;
      var bar = Math.min(bw, bh) <= 0.08 * ih || bh >= 0.85 * ih || bw >= 0.6 * iw;
      if (bar) members.forEach(function (m) { bytes[m] = 255; });
    }
    for (x = p0; x < w - p0; x++) {
      sweep(p0 * w + x);
      sweep((h - p0 - 1) * w + x);
    }
    for (y = p0; y < h - p0; y++) {
      sweep(y * w + p0);
      sweep(y * w + w - p0 - 1);
    }
  }

  // Where is the plate? Its ground is a bright, solid, rectangular blob inside a dark border. On a small
  // copy: threshold, label the bright components, keep the big rectangular ones; their second moments give
  // the angle of the long side (so a tilted photo is turned upright) and the extents along both axes.
  function findPlates(source) {
    var small = Math.min(1, 360 / Math.max(source.width, source.height));
    var g = greyCanvas(source, wholeRegion(source), small, 0);
    var w = g.w, h = g.h, grey = g.grey;
    var hist = histogram(grey), found = [];
    var level = otsu(hist), dark = percentile(hist, 0.1), light = percentile(hist, 0.9);
    // Otsu's threshold, and one darker and one lighter: a pale plate on a paler car, a dim one in shade.
    var levels = [level, Math.round((level + dark) / 2), Math.round((level + light) / 2)];
    levels.forEach(function (threshold) { blobs(grey, w, h, threshold, small, found); });
    // White letters on a dark ground (blue and red plates): the same search on the negative.
    var negative = new Uint8ClampedArray(grey.length);
    for (var i = 0; i < grey.length; i++) negative[i] = 255 - grey[i];
    levels.forEach(function (threshold) { blobs(negative, w, h, 255 - threshold, small, found); });
    found.sort(function (a, b) { return b.rank - a.rank; });
    // The same plate found at two thresholds is one plate.
    var kept = [];
    found.forEach(function (f) {
      var same = kept.some(function (k) {
        return Math.abs(k.cx - f.cx) < 0.25 * k.w && Math.abs(k.cy - f.cy) < 0.25 * k.h;
      });
      if (!same) kept.push(f);
    });
    return kept.slice(0, 2);
  }

  function blobs(grey, w, h, threshold, small, found) {
    var labels = new Int32Array(w * h), stack = new Int32Array(w * h);
    var label = 0;
    for (var start = 0; start < w * h; start++) {
      if (labels[start] || grey[start] <= threshold) continue;
      label++;
      var top = 0, n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, touches = false;
      stack[top++] = start;
      labels[start] = label;
      var pixels = [];
      while (top) {
        var p = stack[--top], x = p % w, y = (p - x) / w;
        pixels.push(p);
        n++;
        sx += x;
        sy += y;
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
        if (x === 0 || y === 0 || x === w - 1 || y === h - 1) touches = true;
        var around = [p - 1, p + 1, p - w, p + w];
        for (var k = 0; k < 4; k++) {
          var q = around[k];
          if (q < 0 || q >= w * h || labels[q] || grey[q] <= threshold) continue;
          if ((k === 0 && x === 0) || (k === 1 && x === w - 1)) continue;
          labels[q] = label;
          stack[top++] = q;
        }
      }
      if (n < 0.01 * w * h || touches) continue;
      var mx = sx / n, my = sy / n;
      var mu20 = sxx / n - mx * mx, mu02 = syy / n - my * my, mu11 = sxy / n - mx * my;
      var theta = 0.5 * Math.atan2(2 * mu11, mu20 - mu02);
      if (Math.abs(theta) > 0.35) continue; // more than 20° off: not a plate photographed on purpose
      var c = Math.cos(theta), s = Math.sin(theta);
      var umin = Infinity, umax = -Infinity, vmin = Infinity, vmax = -Infinity;
      for (var j = 0; j < pixels.length; j++) {
        var px = pixels[j] % w - mx, py = (pixels[j] - (pixels[j] % w)) / w - my;
        var u = px * c + py * s, v = -px * s + py * c;
        if (u < umin) umin = u;
        if (u > umax) umax = u;
        if (v < vmin) vmin = v;
        if (v > vmax) vmax = v;
      }
      var pw = umax - umin + 1, ph = vmax - vmin + 1;
      var solidity = n / (pw * ph);
      if (solidity < 0.45 || solidity > 0.95 || pw / ph < 0.9 || pw / ph > 7) continue;
      var uc = (umin + umax) / 2, vc = (vmin + vmax) / 2;
      // Letters cross the ground: count dark/light changes along the middle and the quarter lines (one
      // line of text, or two). A lamp or a window is bright and solid, with no text across it.
      var crossings = 0;
      [0, -0.25, 0.25].forEach(function (f) {
        var changes = 0, last = null;
        for (var t = 0.04; t <= 0.96; t += 1 / Math.max(pw, 1)) {
          var uu = umin + t * pw, vv = vc + f * ph;
          var sx2 = Math.round(mx + uu * c - vv * s), sy2 = Math.round(my + uu * s + vv * c);
          if (sx2 < 0 || sy2 < 0 || sx2 >= w || sy2 >= h) continue;
          var dark = grey[sy2 * w + sx2] <= threshold;
          if (last !== null && dark !== last) changes++;
          last = dark;
        }
        crossings = Math.max(crossings, changes);
      });
      if (crossings < 6) continue;
      found.push({
        cx: (mx + uc * c - vc * s + 0.5) / small,
        cy: (my + uc * s + vc * c + 0.5) / small,
        w: pw / small,
        h: ph / small,
        theta: theta,
        rank: n * Math.min(crossings, 20),
      });
    }
  }

  function inset(region, fraction, dtheta) {
    var m = fraction * region.h;
    return { cx: region.cx, cy: region.cy, w: region.w - 2 * m, h: region.h - 2 * m,
      theta: region.theta + (dtheta || 0) };
  }

  // ---- The engine: one worker, loaded on first use and kept -------------------------------------------
  var root = document.getElementById("plate-scan");
  var cfg = root ? root.dataset : {};
  var workerPromise = null;

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      if (window.Tesseract) return resolve();
      var s = document.createElement("script");
      s.src = src;
      s.onload = function () { resolve(); };
      s.onerror = function () { reject(new Error("tesseract.js did not load")); };
      document.head.appendChild(s);
    });
  }

  function validates(bytes) {
    try {
      return WebAssembly.validate(new Uint8Array(bytes));
    } catch (e) {
      return false;
    }
  }

  // The core the browser can run fastest (the same tests as wasm-feature-detect, which the worker uses when
  // given a folder): relaxed SIMD, SIMD, or plain WebAssembly. The worker takes a corePath as a file only
  // when it ends in "js", so the versioned URL (…-lstm.js?v=<hash>) gets a fragment that the request drops.
  function corePath() {
    return pickCore() + "#core.js";
  }

  function pickCore() {
    var relaxed = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1,
      253, 15, 65, 2, 253, 15, 253, 128, 2, 11];
    var simd = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253,
      15, 253, 98, 11];
    if (validates(relaxed)) return cfg.coreRelaxedsimd;
    if (validates(simd)) return cfg.coreSimd;
    return cfg.corePlain;
  }

  function engine() {
    if (!workerPromise) {
      workerPromise = loadScript(cfg.tesseract)
        .then(function () {
          return window.Tesseract.createWorker("eng", 1, {
            workerPath: cfg.worker,
            corePath: corePath(),
            langPath: cfg.langPath,
            cachePath: "citypay-" + cfg.langVersion,
            workerBlobURL: false,
            gzip: true,
          });
        })
        .then(function (worker) {
          return worker
            .setParameters({
              tessedit_char_whitelist: WHITELIST,
              preserve_interword_spaces: "0",
              user_defined_dpi: "300",
            })
            .then(function () { return worker; });
        })
        .catch(function (err) {
          workerPromise = null;
          throw err;
        });
    }
    return workerPromise;
  }

  function parseTsv(tsv) {
    // level page block par line word left top width height conf text
    var words = [];
    String(tsv || "").split("\n").forEach(function (row) {
      var c = row.split("\t");
      if (c.length < 12 || c[0] !== "5" || !c[11].trim()) return;
      words.push({ line: c[2] + "." + c[3] + "." + c[4], x: +c[6], y: +c[7], w: +c[8], h: +c[9],
        conf: +c[10], text: c[11] });
    });
    return words;
  }

  function recognize(worker, canvas, psm) {
    return worker
      .setParameters({ tessedit_pageseg_mode: String(psm) })
      .then(function () { return worker.recognize(canvas, {}, { text: true, tsv: true }); })
      .then(function (res) {
        var words = parseTsv(res.data.tsv);
        var conf = words.length
          ? words.reduce(function (s, w) { return s + w.conf; }, 0) / words.length : 0;
        return { text: res.data.text || "", words: words, conf: Math.max(0, Math.min(conf, 100)) / 100 };
      });
  }

  // A reader that never answers (its files stalled on a bad connection) must not leave the button busy.
  var LOAD_TIMEOUT_MS = 90000;
  function withTimeout(promise, ms) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () { reject(new Error("the plate reader did not load in time")); }, ms);
      promise.then(function (v) { clearTimeout(timer); resolve(v); },
        function (e) { clearTimeout(timer); reject(e); });
    });
  }

  // One photo at a time: the worker's parameters change between looks, so a second photo waits its turn.
  var queue = Promise.resolve();
  function read(blob) {
    var next = queue.then(function () { return readNow(blob); });
    queue = next.catch(function () {});
    return next;
  }

  // Several looks at the photo; each reading's score is its share of the weighted votes (0–1).
  function readNow(blob) {
    var started = Date.now();
    return Promise.all([withTimeout(engine(), LOAD_TIMEOUT_MS), loadBitmap(blob)]).then(function (both) {
      var worker = both[0], bitmap = both[1];
      var whole = wholeRegion(bitmap);
      var votes = {}, weight = 0, passes = [];
      function ranking() {
        return Object.keys(votes)
          .map(function (p) { return { plate: p, score: Math.min(1, votes[p] / Math.max(weight, 1e-6)) }; })
          .sort(function (a, b) { return b.score - a.score; });
      }
      function vote(result) {
        passes.push({ text: result.text, conf: result.conf });
        var w = 0.3 + result.conf;
        weight += w;
        parse(result.text).slice(0, 8).forEach(function (r, rank) {
          votes[r.plate] = (votes[r.plate] || 0) + w * Math.pow(0.55, r.cost) * Math.pow(0.85, rank);
        });
      }
      function agreed() {
        var ranked = ranking();
        return ranked.length > 0 && ranked[0].score >= 0.6;
      }
      // The plate's ground found in the photo, turned upright, its border cut off, at a size where letters
      // are about 50 px high; then the same a few degrees either way; then the whole photo.
      var tries = [];
      findPlates(bitmap).forEach(function (found) {
        var oneLine = found.w / found.h > 2.4;
        var region = inset(found, 0.04);
        var scale = Math.max(0.2, Math.min(4, (oneLine ? 80 : 150) / region.h));
        tries.push([region, scale, "stretch", 6], [region, scale, "binary", 6]);
        if (oneLine) tries.push([region, scale, "stretch", 7]);
        tries.push([inset(found, 0.04, 0.05), scale, "stretch", 6], [inset(found, 0.04, -0.05), scale, "stretch", 6]);
        // Part of the plate in shadow is no part of the bright blob: the band through it, twice as wide.
        var band = { cx: region.cx, cy: region.cy, w: region.w * 2.2, h: region.h, theta: region.theta };
        tries.push([band, scale, "stretch", oneLine ? 7 : 6]);
      });
      var wholeScale = Math.min(2, 1200 / Math.max(bitmap.width, bitmap.height));
      tries.push([whole, wholeScale, "stretch", 11], [whole, wholeScale, "binary", 6]);
      var i = 0;
      function next() {
        if (i >= tries.length || (passes.length >= 2 && agreed())) return null;
        var t = tries[i++];
        var canvas = prepared(bitmap, t[0], t[1], t[2], 12, t[0] !== whole);
        if (api.debug) api.debug.push(canvas.toDataURL());
        return recognize(worker, canvas, t[3]).then(function (r) {
          vote(r);
          return next();
        });
      }
      function release() {
        if (bitmap.close) bitmap.close(); // a phone's photo decoded is tens of megabytes
      }
      return Promise.resolve(next()).then(function () {
        release();
        var readings = ranking().slice(0, 5).map(function (r) {
          return { plate: r.plate, score: Math.round(r.score * 1000) / 1000 };
        });
        api.last = { passes: passes, ms: Date.now() - started, readings: readings, looks: tries.length };
        return readings;
      }, function (err) {
        release();
        throw err;
      });
    });
  }

  // read(): the readings of a photo; parse(): the plates in the engine's raw text; warm(): load the engine;
  // last: the latest photo's looks (raw text, confidence), time and readings; debug: set it to [] to collect
  // each look's image as a data URL.
  var api = { read: read, parse: parse, warm: engine, last: null, debug: null };
  window.citypayPlateScan = api;

  // ---- The button -------------------------------------------------------------------------------------
  if (!root) return;
  var input = document.getElementById("plate-scan-file");
  var status = document.getElementById("plate-scan-status");

  function say(text, state) {
    status.textContent = text || "";
    status.dataset.state = state || "";
  }

  // Start loading the engine as soon as the attendant reaches for the camera: the photo takes longer.
  root.addEventListener("pointerdown", function () { engine().catch(function () {}); });
  root.addEventListener("focusin", function () { engine().catch(function () {}); });

  input.addEventListener("change", function () {
    var file = input.files && input.files[0];
    if (!file) return;
    root.setAttribute("aria-busy", "true");
    say(cfg.msgReading, "busy");
    read(file)
      .then(function (readings) {
        if (!readings.length) {
          say(cfg.msgFailed, "failed");
          return;
        }
        say(cfg.msgFound.replace("{plate}", readings[0].plate), "done");
        document.dispatchEvent(new CustomEvent("citypay:plate-readings", { detail: { readings: readings } }));
      })
      .catch(function () {
        say(cfg.msgFailed, "failed");
      })
      .then(function () {
        root.removeAttribute("aria-busy");
        input.value = ""; // the same photo again is a new change
      });
  });
})();
