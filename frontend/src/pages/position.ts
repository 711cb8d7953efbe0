// Where the phone is: DingTalk's position (GCJ-02) inside DingTalk, else the browser's (WGS84).

/** DingTalk's position (GCJ-02), when the page runs inside DingTalk. */
export function dingTalkPosition(): Promise<{ lon: number; lat: number }> | null {
  const geo = (window as unknown as { dd?: { device?: { geolocation?: { get?: unknown } } } }).dd?.device?.geolocation;
  if (!geo || typeof geo.get !== "function") return null;
  const get = geo.get as (opts: object) => unknown;
  return new Promise((resolve, reject) => {
    const ok = (res: { longitude: number; latitude: number }) => resolve({ lon: Number(res.longitude), lat: Number(res.latitude) });
    const answer = get.call(geo, {
      targetAccuracy: 200, coordinate: 1, withReGeocode: false, useCache: false, onSuccess: ok, onFail: reject,
    });
    if (answer && typeof (answer as Promise<unknown>).then === "function") (answer as Promise<{ longitude: number; latitude: number }>).then(ok, reject);
  });
}

export function browserPosition(): Promise<{ lon: number; lat: number }> {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject(new Error("此浏览器不支持定位"));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lon: p.coords.longitude, lat: p.coords.latitude }),
      (e) => reject(new Error(e.code === 1 ? "未获得定位权限（或页面不是 HTTPS）" : "定位失败")),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 },
    );
  });
}
