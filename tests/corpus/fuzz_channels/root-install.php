<?php
/**
 * Plugin Name: WP Coding Agents: Channels
 * Description: CLI dispatch channels of the coding-agent bridges.
 * Version:     1.2.0
 */

defined( 'ABSPATH' ) || exit;

add_filter( 'datamachine_code_cli_channels', function ( $channels ) {
    // BEGIN bridges
    // BEGIN bridge:kimaki
    $channels['kimaki'] = [
        'command' => '/root/.kimaki/bin/kimaki',
        'args'    => [ 'send', '--channel', '{recipient}', '--prompt', '{message}' ],
        'detach'  => true,
        'timeout' => 600,
    ];
    // END bridge:kimaki
    // END bridges

    // Added by hand while debugging #198: the wrapper drops to the kimaki data dir.
    $channels['kimaki-wrapper'] = array(
        'timeout' => 600, // seconds
        'command' => '/usr/local/bin/wp-coding-agents-kimaki-dispatch',
        'env'     => array( 'KIMAKI_DATA_DIR' => '/root/.kimaki', 'PATH' => '/usr/local/bin:/usr/bin:/bin' ),
    );
    return $channels;
} );
