// 即报即办 and the photos of a draft: what was done on the spot, and the photos kept with the
// draft as Blobs (at least one when it was handled on the spot: the verifier's evidence).

import { h, uuid4 } from "../dom";
import type { Draft } from "./drafts";

const MAX_PHOTO_BYTES = 10 * 1024 * 1024;
const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];

export interface Evidence {
  el: HTMLElement;
  /** Why the draft's handling or photos cannot be sent yet, or null. */
  problem(): string | null;
}

/** The 即报即办 choice and the photo picker of a draft; changed() after every edit. */
export function evidenceFields(draft: Draft, changed: () => void, onCleanup: (fn: () => void) => void): Evidence {
  const objectUrls: string[] = [];
  const onSite = h("input", { type: "checkbox", testid: "on-site", checked: draft.handled_on_site });
  const onSiteNote = h("textarea", { testid: "on-site-note", rows: 3, maxlength: 2000, placeholder: "现场做了什么，例如：已劝离摊贩，恢复人行道通行" });
  onSiteNote.value = draft.on_site_note;
  const onSiteFields = h("div", { class: "on-site-fields", testid: "on-site-fields", hidden: !draft.handled_on_site },
    h("label", { class: "field" }, h("span", null, "现场处置情况", h("em", null, " *")), onSiteNote),
    h("p", { class: "muted small" }, "即报即办的事件不再派单，直接进入待核查；须上传至少一张现场照片作为处置凭证。"));
  const photoText = () => (draft.handled_on_site ? "现场照片（即报即办须至少一张，可多张）" : "现场照片（选填，可多张）");
  const photoLabel = h("span", null, photoText());
  onSite.addEventListener("change", () => {
    draft.handled_on_site = onSite.checked;
    onSiteFields.hidden = !onSite.checked;
    photoLabel.textContent = photoText();
    changed();
  });
  onSiteNote.addEventListener("input", () => {
    draft.on_site_note = onSiteNote.value;
    changed();
  });

  const photoInput = h("input", { type: "file", accept: PHOTO_TYPES.join(","), capture: "environment", multiple: true, testid: "photos", class: "visually-hidden" });
  const thumbs = h("div", { class: "thumbs", testid: "photo-previews" });
  const drawThumbs = () => {
    objectUrls.splice(0).forEach((u) => URL.revokeObjectURL(u));
    thumbs.replaceChildren(...draft.photos.filter((p) => p.blob).map((p) => {
      const url = URL.createObjectURL(p.blob as Blob);
      objectUrls.push(url);
      const bad = (p.blob as Blob).size > MAX_PHOTO_BYTES || !PHOTO_TYPES.includes(p.type);
      return h("figure", { class: "thumb", testid: "photo-preview", "data-photo-id": p.id, "data-name": p.name },
        h("img", { src: url, alt: p.name, class: bad ? "too-big" : "" }),
        h("button", {
          type: "button", class: "btn btn-plain btn-small", testid: "photo-remove", "aria-label": `删除照片 ${p.name}`,
          onclick: () => {
            draft.photos = draft.photos.filter((x) => x.id !== p.id);
            drawThumbs();
            changed();
          },
        }, "删除"));
    }));
  };
  photoInput.addEventListener("change", () => {
    const files = Array.from(photoInput.files ?? []);
    draft.photos.push(...files.map((f) => ({ id: uuid4(), name: f.name, type: f.type, blob: f as Blob, uploaded: false })));
    photoInput.value = "";
    drawThumbs();
    changed();
  });
  onCleanup(() => objectUrls.forEach((u) => URL.revokeObjectURL(u)));
  drawThumbs();

  return {
    el: h("section", { class: "panel" },
      h("h2", null, "③ 处置与照片"),
      h("label", { class: "radio on-site" }, onSite, " 即报即办（已在现场处置完毕）"), onSiteFields,
      h("div", { class: "field" }, photoLabel, h("label", { class: "btn btn-file" }, "拍照或选择照片", photoInput)), thumbs),
    problem() {
      if (draft.handled_on_site && !draft.on_site_note.trim()) return "即报即办请填写现场处置情况";
      if (draft.handled_on_site && draft.photos.length === 0) return "即报即办须上传至少一张现场照片作为处置凭证";
      if (draft.photos.some((p) => p.blob && p.blob.size > MAX_PHOTO_BYTES)) return "有照片超过 10 MB，请删除后再提交";
      if (draft.photos.some((p) => !PHOTO_TYPES.includes(p.type))) return "只能上传 JPEG、PNG 或 WebP 格式的照片";
      return null;
    },
  };
}
