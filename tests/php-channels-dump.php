<?php
// The channels file as PHP 8.2 reads it: WordPress's add_filter/apply_filters stubbed as the
// mu-plugin uses them, the file included, the 'datamachine_code_cli_channels' filter (then
// 'datamachine_channels', the name older fixtures use) applied to an empty array, and the channel => command map printed one line per channel:
//   OK
//   <hex of name> <hex of command>        (command "-" when it is missing or not a string)
// or one line `PARSE_ERROR <line>` (the file does not compile: the site fatals) or
// `ERROR <line> <class>` (it compiles but throws). Bytes are hex so that any byte survives.
// Run: php -n -d display_errors=stderr tests/php-channels-dump.php FILE. Only for the test corpus: this executes FILE.
$GLOBALS['pw_filters'] = [];
function add_filter($tag, $cb, $priority = 10, $accepted_args = 1) {
    $GLOBALS['pw_filters'][$tag][$priority][] = $cb;
    return true;
}
function add_action($tag, $cb, $priority = 10, $accepted_args = 1) {
    return add_filter($tag, $cb, $priority, $accepted_args);
}
function apply_filters($tag, $value, ...$args) {
    if (empty($GLOBALS['pw_filters'][$tag]))
        return $value;
    $byprio = $GLOBALS['pw_filters'][$tag];
    ksort($byprio);
    foreach ($byprio as $cbs)
        foreach ($cbs as $cb)
            $value = $cb($value, ...$args);
    return $value;
}
function remove_all_filters($tag, $priority = false) {
    unset($GLOBALS['pw_filters'][$tag]);
    return true;
}
function do_action($tag, ...$args) {}
function __($s, $d = null) { return $s; }
function esc_html($s) { return $s; }
if (!defined('ABSPATH'))
    define('ABSPATH', '/nonexistent/');
$file = $argv[1];
ob_start(); // inline HTML the file prints is not part of the answer
try {
    include $file;
    $map = apply_filters('datamachine_channels', apply_filters('datamachine_code_cli_channels', []));
    ob_end_clean();
} catch (ParseError $e) {
    ob_end_clean();
    echo "PARSE_ERROR ", $e->getLine(), "\n";
    exit(0);
} catch (Throwable $e) {
    ob_end_clean();
    echo "ERROR ", $e->getLine(), " ", get_class($e), "\n";
    exit(0);
}
echo "OK\n";
if (is_array($map))
    foreach ($map as $name => $ch) {
        $cmd = (is_array($ch) && isset($ch['command']) && is_string($ch['command']))
            ? bin2hex($ch['command']) : '-';
        echo bin2hex((string)$name), " ", $cmd, "\n";
    }
