//! API keys from an environment variable, in the query string. Alone in its binary: the
//! variable is set before any server thread exists.

use ember_tests::{App, BACKENDS, Client, start};

#[test]
fn api_key_query_from_env() {
    // SAFETY: this test binary runs only this test, and sets the variable before it
    // starts any thread that reads the environment.
    unsafe { std::env::set_var("EMBER_TEST_API_KEYS", "ops:q-key-1, q-key-2") };
    for backend in BACKENDS {
        let server = start(App, backend, 1);
        let mut c = Client::connect(server.local_addr());
        let r = c.get("/mw/qkey/whoami?api_key=q-key-1");
        assert_eq!(r.status, 200, "{backend}");
        assert_eq!(r.text(), "id=ops");
        let r = c.get("/mw/qkey/whoami?x=1&api_key=q-key-2");
        assert_eq!(r.text(), "id=#2");
        let r = c.get("/mw/qkey/whoami?api_key=nope");
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some("ApiKey realm=\"api\", query=\"api_key\"")
        );
        let r = c.get("/mw/qkey/whoami");
        assert_eq!(r.status, 401);
        server.shutdown().expect("clean shutdown");
    }
}
