#!/usr/bin/env python3
"""Writes the seed inputs of every target into fuzz/corpus/<target>/ (run from fuzz/).

Response targets take 3 head bytes (status index, content-type index, flags) and the body; the
bodies below are the crates' test fixtures and documented example answers.
"""
import hashlib, json, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def resp(target, body, status=0, ct=0, flags=0):
    if isinstance(body, str):
        body = body.encode()
    put(target, bytes([status, ct, flags]) + body)


# Tianyi: envelope answers (proto-tianyi tests and server half), v1.0 flag, platform flag.
for flags in (0, 1, 2):
    resp("tianyi_response", '{"code":0,"msg":"成功","data":{"accessToken":"A","refreshToken":"R","expiresin":"604800","refreshExpiresin":2592000}}', flags=flags)
resp("tianyi_response", '{"code":0,"msg":"成功","data":"https://vcp.21cn.com/open/oauth/login?x=1"}')
resp("tianyi_response", '{"code":0,"msg":"成功","data":{"url":"https://vcp.21cn.com/login"}}')
resp("tianyi_response", '{"code":0,"msg":"成功","data":{"lastId":-1,"list":[{"deviceCode":"dev-9","deviceName":"门口"}]}}')
resp("tianyi_response", '{"code":0,"msg":"成功","data":{"deviceCode":"dev-9","deviceName":"门口","onlineStatus":1}}')
resp("tianyi_response", '{"code":30002,"msg":"x"}', status=4)
resp("tianyi_response", '{"CODE":40001,"MSG":"ip not in whitelist"}', status=6)
resp("tianyi_response", '<html>502 Bad Gateway</html>', status=9, ct=3)
resp("tianyi_response", '{"code":0,"msg":"ok","data":"8B2E0F4A1C3D5E6F"}', flags=2)
resp("tianyi_response", 'authCode=abc&state=abcdefghijklmnop&errorCode=0')

# Zhiyun: JSON and XML answers.
Z_USER = '{"code":200,"message":"ok","data":{"username":"li******40","nowtime":1522404566}}'
resp("zhiyun_response", Z_USER)
resp("zhiyun_response", '{"code":200,"message":"ok","data":{"auth_code":"0123456789abcdef0123456789abcdef01234567"}}')
resp("zhiyun_response", '{"code":10012,"message":"access_token expired","data":null}', status=5)
resp("zhiyun_response", '<?xml version="1.0" encoding="UTF-8"?><response><code>200</code><message>ok</message><data><username>li******40</username><nowtime>1522404566</nowtime></data></response>', ct=2, flags=1)
resp("zhiyun_response", '<?xml version="1.0" encoding="UTF-8"?><response><code>10012</code><message>expired</message><data/></response>', ct=2, flags=1)
resp("zhiyun_response", '<html><body>Not Found</body></html>', status=7, ct=3)
resp("zhiyun_response", '10012\nexpired')

# Device: provisioning, dynamic registration, /auth/devicename.
for body in [
    '{"code":"00000","result":{"device":{"productKey":"pk","deviceName":"device","deviceSecret":"secret"},"connect":{"qos":1,"host":"pk.iot-as-mqtt.cn-shanghai.aliyuncs.com:1883","cleanSession":1}}}',
    '{"code":"10001","message":"unknown device"}',
    '{"code":"12345"}', '{"code":"77777"}', '{}', '{"result":{}}',
    '{"code":200,"data":{"deviceName":"AdvExample_dyn1","deviceSecret":"ximd4xyeAjtHp5lsz3A5okefnJMYtQTP","productKey":"a1csED27mp7"},"message":"success"}',
    '{"code":6289,"message":"device is already active"}',
    '{"code":200,"data":{"iotId":"42Ze0mk3556498a1AlTP","iotToken":"0d7fdeb9dc1f4344a2cc0d45edcb0bcb","resources":{"mqtt":{"host":"iot-as-mqtt.cn-shanghai.aliyuncs.com","port":1883}}},"message":"success"}',
    '{"imei":"490154203237518","iccid":"89860012345678901234","sn":"SN-1"}',
]:
    resp("device_response", body)
    put("device_response_nostd", body)

# tf56: token answers (all spellings), OAuth and gateway errors, API envelopes, callbacks.
for body, status in [
    ('{"scope":"商铺 good-list op-truck open-demo","expires_in":1800,"token_type":"uuid","access_token":"d45e242ad95238cfa9a24436153adfa0"}', 0),
    ('{"scope":"all","expiresin":"25200","tokentype":"uuid","refreshtoken":"r","accesstoken":"a","uid":7}', 0),
    ('{"error":"invalid_client","error_description":"Bad client credentials"}', 5),
    ('{"error":"invalid_token","error_description":"Invalid access token: x"}', 5),
    ('{"result":"success","code":"200","msg":"ok","data":{"realname":"zhang","hello":"world"}}', 0),
    ('{"result":"error","code":"GW_0002","msg":"system error","data":null}', 9),
    ('http://test.tf56.com/?code=abc&state=abcdefghijklmnop', 0),
]:
    resp("tf56_response", body, status=status)

# iLab: the seed's token answer, refusals, upload receipts, a data upload body.
ACCESS = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1biI6IjE3MDE4MDgxNjk3OTMxMzg2OTAiLCJleHAiOjE3MTExODk2Mjl9.x"
for body, status in [
    ('{"code":0,"msg":"调用成功，返回所需数据","access_token":"%s","refresh_token":"%s","un":"1701808169793138690","dis":"1701808169793138690","create_time":1711103229122,"expires_time":1711189628122,"expires_in":86399}' % (ACCESS, ACCESS), 0),
    ('{"code":0,"msg":"ok","access_token":"a","un":"u","create_time":"1711103229122","expires_time":"1711189628122"}', 0),
    ('{"code":2,"msg":"签名错误"}', 0),
    ('{"code":7,"msg":"ticket 已使用"}', 4),
    ('{"code":0,"msg":"ok","id":"42"}', 0),
    ('{"username":"1701808169793138690","title":"电路实验","status":1,"score":66,"startTime":1625952587963,"endTime":1625953307963,"timeUsed":12,"appid":"1681600222748241929","originId":"rec-42","steps":[{"seq":1,"title":"实验准备","startTime":1625952587963,"endTime":1625952707963,"timeUsed":2,"expectTime":5,"maxScore":20,"score":18,"repeatCount":1,"evaluation":"","scoringModel":"","remarks":""}]}', 0),
]:
    resp("ilab_response", body, status=status)

# XXTEA: key (16 bytes) then ciphertext, from sign-core's fixture.
fx = json.load(open(os.path.join(ROOT, "..", "crates", "sign-core", "tests", "fixtures", "xxtea.json")))
def walk(v):
    if isinstance(v, dict):
        yield v
        for x in v.values():
            yield from walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk(x)
n = 0
for case in walk(fx):
    key = case.get("key") or fx.get("key")
    ct = case.get("cipher_hex") or case.get("ciphertext_hex") or case.get("cipher")
    if isinstance(key, str) and isinstance(ct, str) and n < 12:
        try:
            c = bytes.fromhex(ct)
        except ValueError:
            continue
        k = key.encode()[:16].ljust(16, b"\0")
        put("xxtea_decrypt", k + c)
        n += 1
put("xxtea_decrypt", b"0123456789abcdef" + bytes(8))

# Tickets (percent-encoded and not), JWTs, queries.
TICKET = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJST05DT08iLCJleHAiOjE3MTM2OTIwNjUsInVzZXJJZCI6IjE3MDE4MDgxNjk3OTMxMzg2OTAifQ.FfUkZ_Z-Acwird66oHfg2PnWqhlY9g39i1Y9cOidgBI"
V2_ENC = "22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5%2B1UFkxS7PclakS5u3P6cXwrv8%2B7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ%3D"
for t in [TICKET, V2_ENC, "a%2Bb%3D", "%E4%B8%AD%E6%96%87", "%zz%4", "%E4%B8", "中%E4文", "https://lab.example/index.html?ticket=a%2Bb%3D&from=ilab"]:
    put("percent_decode", t)
for t in [TICKET, ACCESS, "a.e30.c", "a.eyJ1biI6MTIzLCJzY29wZSI6ImEgYiJ9.c", "a.eyJ1biI6MTIzLCJzY29wZSI6ImEgYiJ9==.c"]:
    put("jwt_claims", t)
for q in [
    "accessToken=abc&deviceCode=dev-1&enterpriseUser=13800000000",
    "callbackUrl=http://192.168.140.1:8889&state=abcdefghijklmnop&clientType=3",
    "?authCode=abc&state=abcdefghijklmnop&errorCode=0",
    "access_token=t&client_id=1102084294&auth_code=c&t_=1700000000000&p_=abc",
    "grant_type=client_credentials&client_id=7&client_secret=7fad9d6b20e849219d6888b25e3f40db",
    "Basic MTEwMjA4NDI5NDphaza4aEN5WEJkOVNxWWtU",
    "ticket=a%2Bb%3D&appid=1681600222748241929&signature=6CC426EF80A31C5E7BDE10F6F5772DE5",
    "Wed, 21 Oct 2015 07:28:00 GMT", "120", "a=&=b&&c",
]:
    put("form_query", q)

# Server halves: selector byte (0 tianyi, 1 zhiyun, 2/8/14 device provision/register/devicename,
# 3 tf56, 4 iLab RONCOO, 5 iLab-x), then the request as text.
def req(sel, text):
    put("sandbox_verifiers", bytes([sel]) + text.encode())

req(0, "POST /open/oauth/login/getAuthPageUrl\napiVersion: 2.0\ncontent-type: application/x-www-form-urlencoded\n\nsignature=7134edd0ae864e3c00072ce39cf6c33efd68b94fb0e7d442061877b62360b376&params=e7f042fd76937d76ba2cd63de2de44252a197afaad647ba9721514439866aee816a40057235799c1fe2fa1b452378cdbb2a7f4dba3eb9d794815e7eb72fff452c2ce1862d46f66cbc55fe6c1d9a90d7dd8fa6bdb51b2a658&appId=693299085757&version=2.0&clientType=3&timestamp=1700000000000")
req(0, "POST /open/oauth/getAccessToken\napiVersion: 2.0\n\nappId=693299085757&clientType=3&params=00&timestamp=1700000000000&version=2.0&signature=00")
for path in ["/apis/rest/authService/authorize/json", "/apis/rest/userService/getUserInfo/json", "/apis/rest/companyService/getCompanyInfo/xml"]:
    req(1, "GET %s?access_token=t&client_id=1102084294&auth_code=c&t_=1700000000000&p_=abc\nauthorization: Basic MTEwMjA4NDI5NDpha3U4aEN5WEJkOVNxWWtU" % path)
req(2, "POST /provision\ncontent-type: application/json\n\n{\"imei\":\"490154203237518\"}")
req(2, "POST /provision\ncontent-type: application/json\n\n{\"iccid\":\"89860012345678901234\",\"imei\":\"352099001761481\"}")
req(8, "POST /auth/register/device\ncontent-type: application/x-www-form-urlencoded\n\nproductKey=a1csED27mp7&deviceName=AdvExample_dyn1&random=2HyP9O70q5t9VuX&sign=9bba3312eb8d62ab11baaf910ad617ac052b31defc35a10446277a9e0aab2556&signMethod=hmacsha256")
req(14, "POST /auth/devicename\ncontent-type: application/x-www-form-urlencoded\n\nproductKey=pk&deviceName=device&clientId=pk.device&sign=00&signmethod=hmacsha256&timestamp=1700000000000")
req(3, "POST /openGateway/oauth/token?grant_type=client_credentials&client_id=7&client_secret=7fad9d6b20e849219d6888b25e3f40db")
req(3, "POST /openGateway/oauth/token\nauthorization: Basic Nzo3ZmFkOWQ2YjIwZTg0OTIxOWQ2ODg4YjI1ZTNmNDBkYg==\ncontent-type: application/x-www-form-urlencoded\n\ngrant_type=password&username=demo&password=demo123456")
req(3, "GET /openGateway/oauth/?response_type=code&client_id=1&redirect_uri=http://test.tf56.com&state=xyz&scope=all")
req(3, "POST /openGateway/oauthentry/tf56.open.demo/1/sayHello?access_token=d45e242ad95238cfa9a24436153adfa0")
req(4, "GET /oauth/token/accesstoken?ticket=eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJST05DT08iLCJleHAiOjE3MTM2OTIwNjUsInVzZXJJZCI6IjE3MDE4MDgxNjk3OTMxMzg2OTAifQ.FfUkZ_Z-Acwird66oHfg2PnWqhlY9g39i1Y9cOidgBI&appid=1681600222748241929&signature=6CC426EF80A31C5E7BDE10F6F5772DE5")
req(5, "GET /open/api/v2/token?ticket=22Wedtn1xcQWVAuqqnVOn1IvUlIZZneNQa0bxMqhJuMxkYmo5%2B1UFkxS7PclakS5u3P6cXwrv8%2B7iR7MzVUvuG8WoLpzh0Z2Y2sTx8f3wWQ%3D&appid=1681600222748241929&signature=A420ABC82AB3B07C347F7F02A6B28FD2")
req(4, "POST /oauth/api/v1/data_upload?access_token=x\ncontent-type: application/json\n\n{\"username\":\"u\",\"title\":\"t\",\"status\":1,\"score\":66,\"startTime\":1,\"endTime\":2,\"timeUsed\":1,\"appid\":\"1681600222748241929\",\"originId\":\"o\",\"steps\":[]}")
req(5, "GET /open/api/v2/token/refresh?access_token=x&appid=1681600222748241929&signature=00")
