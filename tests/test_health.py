"""GET /healthz for load balancers."""


def test_it_answers_200_with_the_cursor_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "seq": 0}


def test_it_answers_503_when_the_database_does_not(make_app, tmp_path):
    missing = tmp_path / "no-such-dir" / "tracker.db"
    app = make_app({"TRACKER_ENV": "test", "SECRET_KEY": "k" * 40, "DATABASE_URL": f"sqlite:///{missing}"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
