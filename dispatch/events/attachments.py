"""Photos attached to events, stored on disk under the data directory, checked by content."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import BinaryIO

from PIL import Image
from sqlmodel import Session, col, select

from dispatch.core.errors import InvalidInput, NotFound, TooLarge
from dispatch.core.files import private_dir, write_private
from dispatch.core.outbox import outbox_of
from dispatch.events.models import Assignment, Attachment
from dispatch.events.service import get_event
from dispatch.events.steps import add_step
from dispatch.users.models import User

MAX_BYTES = 10 * 1024 * 1024
CHUNK = 64 * 1024
MAX_NAME_LENGTH = 255
# A 50-megapixel phone photo decodes to ~150 MB; a small file claiming more is a bomb.
MAX_PIXELS = 50_000_000
PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
NOT_AN_IMAGE = "只接受 JPEG、PNG 或 WebP 图片"
# Judge a file by its first bytes, not by the name or the content type the client claims.
SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
)


def sniff_image(head: bytes) -> tuple[str, str] | None:
    """Return (content type, extension) of a JPEG, PNG or WebP, or None."""
    for signature, content_type, extension in SIGNATURES:
        if head.startswith(signature):
            return content_type, extension
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def decode_image(data: bytes, content_type: str) -> None:
    """Decode the whole image, refusing a file that only starts like one, or a bomb."""
    try:
        # Pillow reads the size from the header; the pixels are decoded only by load().
        with Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[content_type]]) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise InvalidInput(
                    f"图片 {width}×{height} 像素过大（上限 {MAX_PIXELS} 像素）",
                    field="file",
                )
            image.load()
    except InvalidInput:
        raise
    except Exception as exc:  # Pillow raises many kinds for a broken or hostile file
        raise InvalidInput(NOT_AN_IMAGE, field="file") from exc


def check_file_name(file_name: str) -> str:
    """Return the name an upload is kept under (its last path part); refuse an overlong one."""
    if len(file_name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"文件名超过 {MAX_NAME_LENGTH} 个字符", field="file", code="too_long")
    return Path(file_name).name


def read_limited(stream: BinaryIO, max_bytes: int = MAX_BYTES) -> bytes:
    """Read a whole upload, refusing it as soon as it passes the limit."""
    chunks, size = [], 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"文件超过 {max_bytes // (1024 * 1024)} MB 上限", field="file")
        chunks.append(chunk)
    return b"".join(chunks)


def store_attachment(
    session: Session,
    storage_dir: Path,
    event_id: int,
    *,
    file_name: str,
    data: bytes,
    user: User | None,
    assignment_id: int | None = None,
) -> Attachment:
    """Check an image and store it once by content; record it on the event's timeline."""
    event = get_event(session, event_id)
    if assignment_id is not None:
        assignment = session.get(Assignment, assignment_id)
        if assignment is None or assignment.event_id != event_id:
            raise NotFound(f"事件 {event_id} 没有任务 {assignment_id}", field="assignment_id")
    name = check_file_name(file_name)
    if not data:
        raise InvalidInput("文件为空", field="file", code="empty_file")
    sniffed = sniff_image(data[:16])
    if sniffed is None:
        raise InvalidInput(NOT_AN_IMAGE, field="file")
    content_type, extension = sniffed
    decode_image(data, content_type)
    digest = hashlib.sha256(data).hexdigest()
    key = f"{event_id}/{digest}.{extension}"
    target = storage_dir / key
    if not target.exists():
        private_dir(target.parent)
        partial = target.with_suffix(".part")
        write_private(partial, data)
        partial.replace(target)  # a reader never sees half a file
        outbox_of(session).wrote_file(target)
    attachment = Attachment(
        event_id=event_id,
        assignment_id=assignment_id,
        file_name=name or key,
        content_type=content_type,
        size_bytes=len(data),
        sha256=digest,
        storage_key=key,
        uploaded_by=user.id if user else None,
    )
    session.add(attachment)
    session.flush()
    add_step(
        session,
        event,
        action="attach",
        actor=user,
        reason=attachment.file_name,
        data={"attachment_id": attachment.id, "size": len(data)},
    )
    return attachment


def event_attachments(session: Session, event_id: int) -> list[Attachment]:
    """Return an event's photos, oldest first."""
    return list(
        session.exec(
            select(Attachment).where(Attachment.event_id == event_id).order_by(col(Attachment.id))
        )
    )


def get_attachment(session: Session, attachment_id: int) -> Attachment:
    """Return an attachment or raise NotFound."""
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound(f"附件 {attachment_id} 不存在", field="attachment_id")
    return attachment
