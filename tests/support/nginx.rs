//! A real nginx (the OS package's binary) started for a test, with its own main config in a
//! temporary directory: pid file, logs and temp paths inside it, proxyhub's conf dir
//! included in `http`, a default server answering 404, on a free port.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::process::{Child, Command};

use super::{free_port, require_binary};

pub struct NginxProcess {
    pub http_port: u16,
    /// The address the main config's default server listens on (all, when `None`).
    pub listen_address: Option<String>,
    pub bin: PathBuf,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NginxProcess {
    /// Writes the main config and starts nginx in the foreground (`daemon off`).
    pub async fn start() -> Self {
        Self::start_listening_on(None).await
    }

    /// Like [`Self::start`], with the main config's default server on one address only
    /// (`listen 127.0.0.1:<port>`), as some operators' configs have it.
    pub async fn start_listening_on(address: Option<&str>) -> Self {
        let bin = require_binary("nginx", "apt-get install -y nginx");
        let dir = tempfile::tempdir().unwrap();
        let mut nginx = Self {
            http_port: free_port(),
            listen_address: address.map(str::to_string),
            bin,
            dir,
            child: None,
        };
        std::fs::create_dir_all(nginx.conf_dir()).unwrap();
        // As an operator sets it up: nginx's workers (nobody:nogroup, the package's default
        // when the master runs as root) reach the conf dir and read its basic-auth files
        // through the dir's group.
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path, m| {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
            };
            mode(nginx.dir.path(), 0o711);
            std::os::unix::fs::chown(nginx.conf_dir(), None, Some(65534)).unwrap();
            mode(&nginx.conf_dir(), 0o2750);
        }
        std::fs::write(nginx.main_conf(), nginx.render_main_conf()).unwrap();
        nginx.boot().await;
        nginx
    }

    /// The directory proxyhub writes its files into.
    pub fn conf_dir(&self) -> PathBuf {
        self.dir.path().join("conf.d")
    }

    pub fn main_conf(&self) -> PathBuf {
        self.dir.path().join("nginx.conf")
    }

    fn render_main_conf(&self) -> String {
        let d = self.dir.path().display();
        let temp_paths: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .iter()
            .map(|t| format!("    {t}_temp_path {d}/tmp/{t};\n"))
            .collect();
        format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log notice;\n\
             events {{\n    worker_connections 256;\n}}\n\
             http {{\n    access_log off;\n{temp_paths}\
             \n    server {{\n        listen {listen} default_server;\n        return 404;\n    }}\n\
             \n    include {conf_dir}/*.conf;\n}}\n",
            listen = match &self.listen_address {
                Some(a) => format!("{a}:{}", self.http_port),
                None => self.http_port.to_string(),
            },
            conf_dir = self.conf_dir().display(),
        )
    }

    /// Starts nginx (again, after [`Self::stop`]) from its main config.
    pub async fn boot(&mut self) {
        std::fs::create_dir_all(self.dir.path().join("tmp")).unwrap();
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.main_conf())
            .arg("-e")
            .arg(self.dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("stderr.log")).unwrap())
            // Killing only the master would leave its workers serving the port: see Drop.
            .kill_on_drop(false)
            .spawn()
            .expect("nginx starts");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.http_port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nginx did not start listening; log:\n{}", self.log());
    }

    /// Stops nginx (master and workers) and waits for it.
    pub async fn stop(&mut self) {
        signal(&self.bin, &self.main_conf(), "stop");
        if let Some(mut c) = self.child.take() {
            if tokio::time::timeout(Duration::from_secs(10), c.wait())
                .await
                .is_err()
            {
                let _ = c.kill().await;
            }
        }
    }

    /// `nginx -s reload`, as an operator would after editing a file by hand.
    pub fn reload(&self) {
        signal(&self.bin, &self.main_conf(), "reload");
    }

    /// proxyhub's files in the conf dir (name → bytes), and any other file there.
    pub fn files(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(self.conf_dir())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, std::fs::read(e.path()).unwrap())
            })
            .collect()
    }

    pub fn log(&self) -> String {
        ["error.log", "stderr.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn signal(bin: &Path, conf: &Path, what: &str) {
    let _ = std::process::Command::new(bin)
        .args(["-s", what, "-c"])
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for NginxProcess {
    fn drop(&mut self) {
        if self.child.is_some() {
            signal(&self.bin, &self.main_conf(), "stop");
        }
    }
}
