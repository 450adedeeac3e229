"""The pages, and the JSON a page catches up with."""

from __future__ import annotations

import json
import re

from liveblog.models import Post

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def test_the_home_page_lists_the_blogs(client, keynote) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert b"Keynote, live" in response.content
    assert b'href="/liveblog/keynote/"' in response.content


def test_the_blog_page_shows_posts_newest_first_and_escaped(client, keynote, memory_backend) -> None:
    Post.objects.create(liveblog=keynote, body="older")
    Post.objects.create(liveblog=keynote, body=XSS)
    content = client.get("/liveblog/keynote/").content.decode()
    assert content.index("window.__pwned = 1") < content.index("older")
    assert "<script>window.__pwned" not in content
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in content
    assert 'data-stream-url="ws://testserver/liveblog/keynote/stream/"' in content


def test_an_unknown_blog_is_404(client, db) -> None:
    assert client.get("/liveblog/nope/").status_code == 404
    assert client.get("/liveblog/nope/posts.json").status_code == 404


def test_the_catch_up_json_has_every_post_newest_first(client, keynote, memory_backend) -> None:
    first = Post.objects.create(liveblog=keynote, body="first")
    second = Post.objects.create(liveblog=keynote, body="second")
    posts = client.get("/liveblog/keynote/posts.json").json()["posts"]
    assert [(p["id"], p["body"]) for p in posts] == [(second.pk, "second"), (first.pk, "first")]
    assert set(posts[0]) == {"id", "body", "created", "updated"}


def test_the_blog_page_renders_the_position_its_posts_are_as_of(client, keynote, memory_backend) -> None:
    keynote.send_notification({"type": "post.created", "post": {}})
    content = client.get("/liveblog/keynote/").content.decode()
    rendered = re.search(r'<script id="liveblog-position" type="application/json">(.*?)</script>', content)
    assert rendered, "the page holds its position for the socket"
    assert json.loads(rendered.group(1)) == keynote.group.position()
    assert json.loads(rendered.group(1))["offset"] == 1
