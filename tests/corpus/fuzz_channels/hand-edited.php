<?php
/*
 * Plugin Name: WP Coding Agents: Channels
 * Hand-edited: everything below is legal PHP that the installer never writes.
 */
defined( 'ABSPATH' ) || exit;

add_filter( 'datamachine_code_cli_channels', function ( $channels ) {
    // BEGIN bridges
    // BEGIN bridge:kimaki
    $channels /* the registry */ [ 'kimaki' ] # name
        = [ // comment after the opener ];
        'args' => [ 'send', '];', "=>", '\'quoted\'', "\"dq\"", '// not a comment', '#', '/*', '?>' ],
        'env' => [ 'A' => [ 'nested' => [ 'deep' => [ ']' ] ] ], 'B' => "{$x["]"]}" ],
        'on_error' => function ( $e ) { error_log( 'kimaki; failed' ); return false; },
        'map' => fn ( $m ) => [ $m, ')' ],
        'note' => <<<TXT
          ]; 'command' => '/tmp/evil',
          TXT,
        'raw' => <<<'RAW'
          $channels['fake'] = [ 'command' => '/tmp/fake' ];
          RAW,
        "command" /* key */ => /* value */ '/usr/bin/kimaki' /* after */ ,
        'timeout' => -1,
    ];
    // END bridge:kimaki
    // BEGIN bridge:cc-connect
    $channels["cc-connect"] = array( 'command' => "/usr/bin/cc-connect", 'args' => array( 'send', ), );
    // END bridge:cc-connect
    // END bridges
    $channels['roadie'] = ['command'=>'roadie'];
    return $channels;
} );
// $channels['commented'] = [ 'command' => '/tmp/no' ];
/* $channels['blocked'] = [ 'command' => '/tmp/no' ]; */
?>
<p>$channels['html'] = [ 'command' => '/tmp/no' ];</p>
<?php
$channels['after-html'] = [ 'command' => '/opt/it\'s a \\dir\\bin/dispatch' ];
__halt_compiler();
$channels['data'] = [ 'command' => '/tmp/no' ];
