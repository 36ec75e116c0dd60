<?php
/**
 * A consumer of the Secure Message Server's log (docs/CONSUMERS.md), plain PHP (no extensions):
 * the shape of a WordPress cron job. It reads after its server-side bookmark, stores each message
 * by id (here: one file per id, so a page read twice is harmless), and only then moves the
 * bookmark. Run it again and it carries on where it stopped.
 *
 *   SMS_URL=http://127.0.0.1:8000 SMS_TOKEN=... [SMS_CONSUMER=wp-cron] [SMS_STORE=./messages] [SMS_WAIT=0] php consumer.php
 *
 * Prints the id of each message it stored, one per line.
 */

$base = rtrim(getenv('SMS_URL') ?: 'http://127.0.0.1:8000', '/');
$token = getenv('SMS_TOKEN') ?: exit("SMS_TOKEN is required\n");
$consumer = getenv('SMS_CONSUMER') ?: 'wp-cron';
$store = getenv('SMS_STORE') ?: __DIR__ . '/messages';
$wait = (int) (getenv('SMS_WAIT') ?: 0);

/**
 * One request to the consumer API; returns the decoded answer, or stops on anything but 200.
 * PHP's own HTTP stream, so no extension is needed; inside WordPress, wp_remote_request() does the same.
 */
function api(string $method, string $url, string $token, ?array $body = null): array
{
    $headers = "Authorization: Bearer $token\r\n";
    if ($body !== null) $headers .= "Content-Type: application/json\r\n";
    $context = stream_context_create(['http' => [
        'method' => $method,
        'header' => $headers,
        'content' => $body === null ? '' : json_encode($body),
        'timeout' => 60,
        'ignore_errors' => true, // read the JSON answer of a 4xx/5xx too
    ]]);
    $text = @file_get_contents($url, false, $context);
    $status = isset($http_response_header[0]) && preg_match('/ (\d{3})/', $http_response_header[0], $m) ? (int) $m[1] : 0;
    $answer = is_string($text) ? json_decode($text, true) : null;
    if ($status !== 200 || !is_array($answer)) {
        fwrite(STDERR, "$method $url: HTTP $status " . (is_string($text) ? $text : 'no answer') . "\n");
        exit(1);
    }
    return $answer;
}

if (!is_dir($store)) mkdir($store, 0700, true);
$cursor = api('GET', "$base/v1/consumers/" . rawurlencode($consumer), $token)['cursor'];

while (true) {
    $query = http_build_query(['after' => $cursor, 'limit' => 100, 'wait' => $wait]);
    $page = api('GET', "$base/v1/messages?$query", $token);
    if (count($page['messages']) === 0) break;
    foreach ($page['messages'] as $item) {
        $record = $item['record'];
        // 1. Store by id: writing the same id twice leaves one copy.
        file_put_contents("$store/{$record['id']}.json", json_encode($record));
        echo $record['id'], "\n";
    }
    // 2. Only then move the bookmark: a crash before this line re-reads the page, and step 1 absorbs it.
    $cursor = $page['next'];
    api('PUT', "$base/v1/consumers/" . rawurlencode($consumer), $token, ['cursor' => $cursor]);
}
